"""Rollouts: a trained agent in real environments -> returns, normalized scores, success rates, traces.

Many episodes run side by side: one env per episode, and at every step ONE batched call to the agent for all the
episodes still running (finished ones are masked out). The agent is the algorithm's own `Agent` (DT acts greedily,
TT plans with beam search, LEAP refines a plan); this file only steps environments and keeps score.

Episodes run in chunks of at most EVAL_CHUNK (fewer when each decision is a wide beam search), so memory stays
bounded whatever the number of episodes; episode i always resets with seed + i. `workers` (minirl eval --workers N)
steps each chunk's envs in N worker processes (EnvWorkers) instead of this one: same envs, seeds and actions, so
the same results; the agent still decides here, once per step for all envs.

Results: per-episode returns and lengths, mean ± std return, D4RL-normalized score (HalfCheetah), success rate and
path length (BabyAI: success = positive reward), per-step decision latency, and the agent's traces (e.g. DT's R̂).
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch

from minirl import validate
from minirl.display import EpisodeBar
from minirl.envs import get_spec, make_env, normalized_score, quiet
from minirl.runs import atomic_write_text, hook, load_run

EVAL_CHUNK = 32  # episodes (envs) stepped together at most
PLAN_ROWS = 4096  # at most this many beams (chunk × beam_width × n_expand) in one planning step


def chunk_size(episodes: int, options: dict) -> int:
    """Episodes per chunk: EVAL_CHUNK, fewer when a planner keeps beam_width × n_expand sequences per episode."""
    per_episode = (options.get("beam_width") or 1) * (options.get("n_expand") or 1)
    return max(1, min(episodes, EVAL_CHUNK, PLAN_ROWS // per_episode))


@torch.no_grad()
def rollout(
    module,
    model,
    tok,
    env: str,
    episodes: int = 10,
    seed: int = 0,
    progress: bool = True,
    workers: int = 0,
    **options,
) -> dict:
    """Runs `episodes` episodes of module.Agent(model, tok, **options) on `env`, chunk_size() of them at a time;
    returns the result dict (per-episode lists in episode order; trace lists joined chunk after chunk).
    workers: step the envs in that many worker processes (0: in this process); the results are the same."""
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    spec = get_spec(env)
    returns, lengths, step_seconds, trace = [], [], [], {}
    chunk = chunk_size(episodes, options)
    target = options.get("target_return")
    name = f"eval {module.__name__.split('.')[-1]}" + ("" if target is None else f" R̂={target:g}")
    # one bar over every chunk: episodes finished, decisions per second
    with EpisodeBar(name, episodes, progress) as bar:
        for start in range(0, episodes, chunk):
            n = min(chunk, episodes - start)
            part_returns, part_lengths, part_seconds, part_trace = _rollout_chunk(
                module, model, tok, env, n, seed + start, options, bar, start, workers
            )
            returns.append(part_returns)
            lengths.append(part_lengths)
            step_seconds += part_seconds
            for key, value in part_trace.items():
                if key in trace and isinstance(value, list):
                    trace[key] = trace[key] + value
                else:
                    trace.setdefault(key, value)
    returns, lengths = np.concatenate(returns), np.concatenate(lengths)
    result = {
        "env": env,
        "episodes": episodes,
        "seed": seed,
        "options": options,
        "returns": returns.tolist(),
        "lengths": lengths.tolist(),
        "return_mean": float(returns.mean()),
        "return_std": float(returns.std()),
        "latency_ms_per_step": 1000 * float(np.mean(step_seconds)),
        "trace": trace,
    }
    if spec.discrete:
        success = returns > 0
        result["success_rate"] = float(success.mean())
        result["path_length"] = float(lengths[success].mean()) if success.any() else None
    else:
        scores = np.array([normalized_score(env, r) for r in returns])
        result["normalized_score"], result["normalized_std"] = (
            float(scores.mean()),
            float(scores.std()),
        )
    return result


def _rollout_chunk(
    module,
    model,
    tok,
    env: str,
    episodes: int,
    seed: int,
    options: dict,
    bar: EpisodeBar,
    done_before: int,
    workers: int = 0,
):
    """One chunk of episodes side by side -> (returns, lengths, per-step decision seconds, the agent's trace).
    bar: the rollout's bar, told after each step how many episodes are done (done_before: in earlier chunks)."""
    agent = module.Agent(model, tok, **options)
    if workers:
        envs = EnvWorkers(env, episodes, workers, obs=tok.obs)
    else:
        envs = [make_env(env, obs=tok.obs) for _ in range(episodes)]
    loop = EnvLoop(agent, envs, seed, tok.encode_obs)
    step_seconds = []
    while not loop.done.all():
        step_seconds.append(loop.step())
        bar.update(done_before + int(loop.done.sum()), int(loop.live.sum()))
    loop.close()
    return loop.returns, loop.lengths, step_seconds, getattr(agent, "trace", {})


class EnvLoop:
    """The one environment loop of minirl: N envs stepped together by one agent, one batched decision per step.

    Env i resets with seed + i (or with seed[i], when seed is a list: e.g. the recorded seeds of a dataset's
    episodes, to replay their levels). Each step() encodes every env's observation (`encode`, e.g. tok.encode_obs), asks
    the agent once for all N actions (finished envs get actions too, which are dropped, so a policy draws the same
    random numbers whichever envs are still running), steps each running env, and tells the agent the rewards
    (float32) and which envs are done. Returns are summed in float64 as the envs report them. Stray prints and
    MuJoCo warnings are silenced here (envs.quiet), so no caller needs to. Used by rollout, analysis (held-out
    states, decision timing) and SAC's evaluation.

    envs: a list of envs, stepped here one after another (LocalEnvs), or an EnvWorkers, whose envs step in worker
    processes; both answer reset, step and close alike."""

    def __init__(self, agent, envs: list | EnvWorkers, seed: int | list[int], encode=np.stack):
        envs = LocalEnvs(envs) if isinstance(envs, list) else envs
        seeds = list(seed) if isinstance(seed, list) else [seed + i for i in range(len(envs))]
        if len(seeds) != len(envs):
            raise ValueError(f"{len(seeds)} seeds for {len(envs)} envs")
        self.agent, self.envs, self.encode = agent, envs, encode
        agent.reset(len(envs))
        self.obs = envs.reset(seeds)
        self.returns, self.lengths = np.zeros(len(envs)), np.zeros(len(envs), np.int64)
        self.done = np.zeros(len(envs), bool)

    def step(self) -> float:
        """One decision and one env step; returns the decision's seconds (agent.act only). Afterwards self.states
        holds the (N, ...) encoded states it decided on and self.live the envs that were running then."""
        self.states, self.live = self.encode(self.obs), ~self.done
        t0 = time.perf_counter()
        actions = self.agent.act(self.states)  # (N, A) or (N,), one batched decision for every env
        seconds = time.perf_counter() - t0
        running = np.flatnonzero(self.live)
        results = self.envs.step(actions, running)
        rewards = np.zeros(len(self.envs), np.float32)
        for i, (obs, r, term, trunc) in zip(running, results):
            self.obs[i], rewards[i] = obs, r
            self.returns[i], self.lengths[i] = self.returns[i] + r, self.lengths[i] + 1
            self.done[i] = term or trunc
        self.agent.observe(rewards, self.done)
        return seconds

    def close(self) -> None:
        self.envs.close()


class LocalEnvs:
    """A list of envs stepped in this process, one after another (what EnvWorkers does in each worker)."""

    def __init__(self, envs: list):
        self.envs = envs

    def __len__(self) -> int:
        return len(self.envs)

    def reset(self, seeds: list[int]) -> list:
        """Each env reset with its seed -> their first observations."""
        with quiet():
            return [e.reset(seed=s)[0] for e, s in zip(self.envs, seeds)]

    def step(self, actions, running) -> list:
        """Env i in `running` (in order) takes actions[i] -> [(observation, reward, terminated, truncated)]."""
        with quiet():
            return [self.envs[i].step(actions[i])[:4] for i in running]

    def close(self) -> None:
        for e in self.envs:
            e.close()


class EnvWorkers:
    """N envs of one kind in `workers` processes (`minirl eval --workers`), for EnvLoop: worker w builds and steps a
    contiguous slice of them, with the same LocalEnvs as the sequential loop, so the same seeds and
    actions give the same observations and rewards. Each step sends every worker its slice's actions and waits for
    all of them: the envs step in parallel, the agent still decides once for all N."""

    def __init__(self, env: str, n: int, workers: int, obs: str | None = None):
        self.n = n
        # (lo, hi) of each worker's envs; at most one worker per env
        bounds = np.linspace(0, n, min(workers, n) + 1).round().astype(int)
        self.slices = list(zip(bounds[:-1], bounds[1:]))
        self.pipes, self.processes = [], []
        context = multiprocessing.get_context()
        for lo, hi in self.slices:
            here, there = context.Pipe()
            process = context.Process(
                target=_env_worker, args=(there, env, obs, hi - lo), daemon=True
            )
            process.start()
            self.pipes.append(here)
            self.processes.append(process)

    def __len__(self) -> int:
        return self.n

    def _ask(self, messages: list) -> list:
        """Sends worker w messages[w], then collects every reply in worker order (joined into one list)."""
        for pipe, message in zip(self.pipes, messages):
            pipe.send(message)
        replies = []
        for pipe in self.pipes:
            reply = pipe.recv()
            if isinstance(reply, Exception):
                raise reply
            replies += reply
        return replies

    def reset(self, seeds: list[int]) -> list:
        return self._ask([("reset", seeds[lo:hi]) for lo, hi in self.slices])

    def step(self, actions, running) -> list:
        """As LocalEnvs.step: one (observation, reward, terminated, truncated) per env in `running` (sorted)."""
        return self._ask(
            [
                ("step", actions[lo:hi], running[(running >= lo) & (running < hi)] - lo)
                for lo, hi in self.slices
            ]
        )

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(("close",))
        for process in self.processes:
            process.join()


def _env_worker(pipe, env: str, obs: str | None, n: int) -> None:
    """A worker process: builds its n envs, then answers EnvWorkers' messages until told to close."""
    envs = LocalEnvs([make_env(env, obs=obs) for _ in range(n)])
    while True:
        command, *args = pipe.recv()
        if command == "close":
            envs.close()
            return
        try:
            pipe.send(getattr(envs, command)(*args))
        except Exception as e:  # noqa: BLE001  (raised again in the parent, which reports it)
            pipe.send(e)


class PolicyAgent:
    """A plain policy, states (N, ...) -> actions, as an Agent for EnvLoop: no memory between steps, no trace."""

    def __init__(self, policy):
        self.policy, self.trace = policy, {}

    def reset(self, n_envs: int) -> None:
        pass

    def act(self, states: np.ndarray) -> np.ndarray:
        return self.policy(states)

    def observe(self, rewards: np.ndarray, done: np.ndarray) -> None:
        pass


def eval_settings(
    module, env: str, options: dict, sweep: dict | None = None, algo: str = "this algorithm"
) -> list[dict]:
    """The complete EvalOptions dicts `evaluate_run` evaluates with: `options` (None: the default), once per value
    of `sweep`, or of the module's default sweep when `options` does not set the swept option (e.g. DT on
    HalfCheetah: the paper's two targets). ValueError for an option the module does not take."""
    if not sweep:
        sweep = hook(module, "default_sweep")(get_spec(env))
        if sweep and options.get(next(iter(sweep))) is not None:
            sweep = None
    settings = [dict(options)]
    if sweep:
        ((name, values),) = sweep.items()
        settings = [dict(options, **{name: v}) for v in values]
    settable = [f.name for f in dataclasses.fields(module.EvalOptions)]
    out = []
    for opts in settings:
        opts = {k: v for k, v in opts.items() if v is not None}
        unknown = set(opts) - set(settable)
        if unknown:
            raise ValueError(f"{algo} does not take {sorted(unknown)}; it takes {sorted(settable)}")
        out.append(dataclasses.asdict(module.EvalOptions(**opts)))
    return out


def evaluate_run(
    run_dir: str | Path,
    episodes: int = 10,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    sweep: dict | None = None,
    overrides: dict | None = None,
    workers: int = 0,
    **options,
) -> dict:
    """`minirl eval RUN`: loads the run and rolls it out once per value of the swept option (e.g. target_return).
    workers: env worker processes (0: step the envs in this process; see rollout).

    overrides: `--set name=value` pairs as typed, for fields of module.EvalOptions (converted and checked against
    their declared types and ranges, as `minirl train --set` checks Config fields).
    Writes `eval.json` in the run directory: {"runs": [result, ...]} with one result per setting.
    """
    module, cfg, tok, model, state = load_run(run_dir, device)
    settable = [f.name for f in dataclasses.fields(module.EvalOptions)]
    if overrides:
        for key in overrides:
            if key not in settable:
                raise validate.BadValue(
                    f"--set {key}: {state['algo']} takes at evaluation only "
                    f"{', '.join(settable) or 'no --set'}"
                )
        options.update(validate.config_values(module.EvalOptions, overrides, state["algo"]))
    results = []
    for opts in eval_settings(module, state["env"], options, sweep, state["algo"]):
        result = rollout(
            module, model, tok, state["env"], episodes, seed, progress, workers, **opts
        )
        result.update(
            algo=state["algo"], dataset=state["dataset"], run=str(run_dir), train_step=state["step"]
        )
        results.append(result)
    out = {"runs": results}
    atomic_write_text(Path(run_dir) / "eval.json", json.dumps(out, indent=1))
    return out
