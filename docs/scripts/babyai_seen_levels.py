"""A BabyAI run on the levels of its own training demos (issue 14): does it fail there too, or only on fresh ones?

Each of the first N demos of DATASET is replayed as a level: the env resets with the demo's recorded seed (Minari's
episode metadata), the run acts as `minirl eval` would (its Agent, EvalOptions from key=value), and the script
prints the success rate and the share of levels where the run took the demo's actions all the way. Compare with
`minirl eval RUN --episodes N --seed 100000` (fresh levels: no demo uses those seeds). Used in docs/results.md.

    python docs/scripts/babyai_seen_levels.py RUN DATASET [N] [key=value ...]
"""

import sys

import minari
import numpy as np
import torch

from minirl import data, validate
from minirl.envs import make_env
from minirl.evaluate import LocalEnvs
from minirl.runs import load_run


def main(run: str, name: str, n: int = 100, *options: str) -> None:
    module, _, tok, model, state = load_run(run, "cpu")
    fields = dict(option.split("=", 1) for option in options)
    agent = module.Agent(
        model, tok, **validate.config_values(module.EvalOptions, fields, state["algo"])
    )
    dataset = minari.load_dataset(f"minirl/{name}-v0")
    n = min(n, dataset.total_episodes)
    seeds = [int(m["seed"]) for m in dataset.storage.get_episode_metadata(range(n))]
    demos = data.load(name)[:n]
    envs = LocalEnvs([make_env(state["env"], obs=tok.obs) for _ in range(n)])
    torch.manual_seed(0)
    agent.reset(n)
    obs = envs.reset(seeds)
    done, returns = np.zeros(n, bool), np.zeros(n)
    taken = [[] for _ in range(n)]
    with torch.no_grad():
        while not done.all():
            actions = agent.act(tok.encode_obs(obs))
            running = np.flatnonzero(~done)
            rewards = np.zeros(n, np.float32)
            for i, (o, r, terminated, truncated) in zip(running, envs.step(actions, running)):
                obs[i], rewards[i] = o, r
                returns[i] += r
                taken[i].append(int(actions[i]))
                done[i] = terminated or truncated
            agent.observe(rewards, done)
    envs.close()
    success = returns > 0
    followed = np.array(
        [taken[i][: len(d["actions"])] == list(d["actions"]) for i, d in enumerate(demos)]
    )
    print(
        f"{run} on the levels of {n} of its training demos: success {success.mean():.0%}, "
        f"took the demo's actions all the way {followed.mean():.0%} (success there {success[followed].mean():.0%})"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:4]), *sys.argv[4:])
