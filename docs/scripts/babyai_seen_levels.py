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
from minirl.evaluate import EnvLoop
from minirl.runs import load_run


class Recording:
    """An agent that keeps the actions the wrapped agent chose: one (n,) row per EnvLoop step."""

    def __init__(self, agent):
        self.agent, self.actions = agent, []

    def reset(self, n_envs: int) -> None:
        self.agent.reset(n_envs)

    def act(self, states: np.ndarray) -> np.ndarray:
        self.actions.append(self.agent.act(states))
        return self.actions[-1]

    def observe(self, rewards: np.ndarray, done: np.ndarray) -> None:
        self.agent.observe(rewards, done)


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
    agent = Recording(agent)
    torch.manual_seed(0)
    loop = EnvLoop(
        agent, [make_env(state["env"], obs=tok.obs) for _ in range(n)], seeds, tok.encode_obs
    )
    with torch.no_grad():
        while not loop.done.all():
            loop.step()
    loop.close()
    success = loop.returns > 0
    taken = np.stack(agent.actions)  # (steps, n): env i's actions are taken[: loop.lengths[i], i]
    followed = np.array(
        [
            list(taken[: min(len(d["actions"]), loop.lengths[i]), i]) == list(d["actions"])
            for i, d in enumerate(demos)
        ]
    )
    print(
        f"{run} on the levels of {n} of its training demos: success {success.mean():.0%}, "
        f"took the demo's actions all the way {followed.mean():.0%} (success there {success[followed].mean():.0%})"
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:4]), *sys.argv[4:])
