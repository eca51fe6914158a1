"""Lesson 01 · Bellman backups: value iteration and tabular Q-learning on a small Minigrid room.

Before any transformer: the classic way to solve a decision problem is to learn a value, Q(s, a) = the return you
get by taking a in s and acting well afterwards, from the Bellman optimality equation

    Q*(s, a) = r(s, a) + gamma * (1 - done(s, a)) * max_a' Q*(s', a')

Value iteration applies this equation as an update ("a Bellman backup") to every (s, a) at once, which needs the
model (s', r, done for every s, a). Q-learning (Watkins 1989) applies it to one sampled transition at a time, with
a step size alpha, and needs no model:

    Q(s, a) <- Q(s, a) + alpha * (r + gamma * (1 - done) * max_a' Q(s', a') - Q(s, a))

Both *bootstrap*: the target contains the estimate itself. In a table that is safe (the backup is a gamma-contraction);
with function approximation and off-policy data it can diverge (the deadly triad, lesson 01's README).

The room is MiniGrid-Empty-5x5-v0: a 3x3 floor inside walls, the goal in the bottom-right corner. A state is the
agent's (x, y, direction); the actions are Minigrid's 0 = turn left, 1 = turn right, 2 = forward (the others do
nothing in an empty room). Reward is 1 on reaching the goal, else 0 (Minigrid pays 1 - 0.9 t / T, which depends on
the step count t rather than the state; the discount gamma does the same job: shorter paths are worth more).

Shapes: S number of states, A number of actions (3).
Lesson 02 reuses the room offline: `offline_value_iteration` backs up only the pairs a fixed dataset holds.

Run it: python -m minirl.baselines.tabular --out lessons/01-bellman-backups          (lesson 01's figure)
        python -m minirl.baselines.tabular --offline --out lessons/02-offline-rl      (lesson 02's figure)
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np

N_ACTIONS = 3  # turn left, turn right, forward


@dataclass
class Config:
    env_id: str = "MiniGrid-Empty-5x5-v0"
    gamma: float = 0.9  # discount
    alpha: float = 0.5  # Q-learning step size (the env is deterministic, so large steps are fine)
    # epsilon-greedy exploration (off-policy: Q-learning still learns the greedy policy)
    epsilon: float = 0.5
    # Q-learning episodes, each from a uniformly random start state (exploring starts)
    episodes: int = 500
    max_steps: int = 50  # per Q-learning episode
    seed: int = 0


@dataclass
class TabularMDP:
    """The room as a table, read off the real environment: one row per (x, y, direction) state."""

    states: list[tuple[int, int, int]]  # (x, y, dir) of every state the agent can be in
    next_state: np.ndarray  # (S, A) int: index of s' after taking a in s
    reward: np.ndarray  # (S, A) float
    done: np.ndarray  # (S, A) bool: the episode ends (goal reached)

    def index(self, state: tuple[int, int, int]) -> int:
        return self.states.index(state)


def make_env(env_id: str) -> gym.Env:
    import minigrid  # noqa: F401  (registers the MiniGrid ids)

    return gym.make(env_id)


def set_state(env: gym.Env, state: tuple[int, int, int]) -> None:
    """Puts the agent at (x, y) facing dir, the way Minigrid stores it (used for the model and exploring starts)."""
    x, y, direction = state
    env.unwrapped.agent_pos, env.unwrapped.agent_dir, env.unwrapped.step_count = (
        (x, y),
        direction,
        0,
    )


def agent_state(env: gym.Env) -> tuple[int, int, int]:
    x, y = env.unwrapped.agent_pos
    return int(x), int(y), int(env.unwrapped.agent_dir)


def build_mdp(env_id: str = Config.env_id) -> TabularMDP:
    """Asks the real env what every action does in every state: the model value iteration needs."""
    env = make_env(env_id)
    env.reset(seed=0)
    grid = env.unwrapped.grid
    cells = [
        (x, y)
        for y in range(grid.height)
        for x in range(grid.width)
        # where the agent can stand (not the goal)
        if grid.get(x, y) is None or grid.get(x, y).type == "floor"
    ]
    states = [(x, y, d) for x, y in cells for d in range(4)]
    index = {s: i for i, s in enumerate(states)}
    next_state = np.zeros((len(states), N_ACTIONS), np.int64)
    reward = np.zeros((len(states), N_ACTIONS), np.float64)
    done = np.zeros((len(states), N_ACTIONS), bool)
    for i, s in enumerate(states):
        for a in range(N_ACTIONS):
            set_state(env, s)
            _, r, terminated, _, _ = env.unwrapped.step(a)
            done[i, a] = terminated
            reward[i, a] = float(r > 0)  # success indicator (see the module docstring)
            # s' of a terminal step is never read
            next_state[i, a] = i if terminated else index[agent_state(env)]
    env.close()
    return TabularMDP(states, next_state, reward, done)


# ---------------------------------------------------------------------------------------------- the two updates


def bellman_backup(
    Q: np.ndarray, next_state: np.ndarray, reward: np.ndarray, done: np.ndarray, gamma: float
) -> np.ndarray:
    """One synchronous Bellman optimality backup of every (s, a) in a deterministic MDP.

    (T Q)(s, a) = r(s, a) + gamma * (1 - done(s, a)) * max_a' Q(s'(s, a), a')
    Q (S, A) float, next_state (S, A) int, reward (S, A), done (S, A) bool -> (S, A) new Q (Q is not modified).
    """
    v_next = Q.max(axis=1)[next_state]  # (S, A): max_a' Q(s', a') for the s' each (s, a) leads to
    return reward + gamma * (1.0 - done) * v_next


def q_learning_step(
    Q: np.ndarray, s: int, a: int, r: float, s_next: int, done: bool, gamma: float, alpha: float
) -> float:
    """One Q-learning update from one transition (s, a, r, s', done); updates Q (S, A) in place.

    Returns the TD error  delta = r + gamma * (1 - done) * max_a' Q(s', a') - Q(s, a)  (before the update).
    """
    target = r + gamma * (1.0 - float(done)) * Q[s_next].max()  # the bootstrapped target
    td_error = target - Q[s, a]
    Q[s, a] += alpha * td_error
    return float(td_error)


# ---------------------------------------------------------------------------------------------- the two learners


def value_iteration(
    mdp: TabularMDP, gamma: float = Config.gamma, tol: float = 1e-8, max_iters: int = 1000
) -> tuple[np.ndarray, list[float]]:
    """Repeats the backup until Q stops changing. Returns Q* (S, A) and the max-norm change after each sweep.

    The backup is a gamma-contraction in the max norm, so the change shrinks at least by gamma per sweep.
    """
    Q = np.zeros(mdp.next_state.shape)
    residuals = []
    for _ in range(max_iters):
        Q_new = bellman_backup(Q, mdp.next_state, mdp.reward, mdp.done, gamma)
        residuals.append(float(np.abs(Q_new - Q).max()))
        Q = Q_new
        if residuals[-1] < tol:
            break
    return Q, residuals


def q_learning(
    cfg: Config, mdp: TabularMDP, Q_star: np.ndarray | None = None
) -> tuple[np.ndarray, dict]:
    """Model-free: epsilon-greedy episodes in the real env, one `q_learning_step` per transition.

    Returns Q (S, A) and a log: per episode its length, and (if Q_star is given) max |Q - Q*| after it.
    """
    rng = np.random.default_rng(cfg.seed)
    env = make_env(cfg.env_id)
    env.reset(seed=cfg.seed)
    Q = np.zeros((len(mdp.states), N_ACTIONS))
    log = {"episode_length": [], "max_error": []}
    for _ in range(cfg.episodes):
        env.reset()
        s = int(rng.integers(len(mdp.states)))  # exploring starts: every (s, a) keeps being tried
        set_state(env, mdp.states[s])
        for t in range(cfg.max_steps):
            # exploring start: a random first action too
            explore = t == 0 or rng.random() < cfg.epsilon
            a = (
                int(rng.integers(N_ACTIONS))
                if explore
                else int(rng.choice(np.flatnonzero(Q[s] == Q[s].max())))
            )
            _, r, terminated, _, _ = env.unwrapped.step(a)
            s_next = s if terminated else mdp.index(agent_state(env))
            q_learning_step(Q, s, a, float(r > 0), s_next, terminated, cfg.gamma, cfg.alpha)
            s = s_next
            if terminated:
                break
        log["episode_length"].append(t + 1)
        if Q_star is not None:
            log["max_error"].append(float(np.abs(Q - Q_star).max()))
    env.close()
    return Q, log


def greedy_episode(
    Q: np.ndarray, mdp: TabularMDP, env_id: str = Config.env_id, seed: int = 0, max_steps: int = 50
) -> tuple[float, int]:
    """Acts greedily w.r.t. Q from the env's own start state; returns (Minigrid's return, steps taken)."""
    env = make_env(env_id)
    env.reset(seed=seed)
    total, steps = 0.0, 0
    while steps < max_steps:
        _, r, terminated, truncated, _ = env.step(int(Q[mdp.index(agent_state(env))].argmax()))
        total, steps = total + float(r), steps + 1
        if terminated or truncated:
            break
    env.close()
    return total, steps


# ---------------------------------------------------------------------------------------------- offline (lesson 02)


def offline_value_iteration(
    mdp: TabularMDP,
    in_data: np.ndarray,
    Q_init: np.ndarray,
    gamma: float = Config.gamma,
    in_sample: bool = False,
    sweeps: int = 50,
) -> list[np.ndarray]:
    """Value iteration from a fixed dataset: only the (s, a) pairs the data holds (in_data (S, A) bool) are ever
    backed up; every other pair keeps its Q_init value, the arbitrary number an untrained network would output.

    in_sample=False: the target's max runs over ALL actions at s', so the never-corrected values of unseen actions
    leak into every backup (extrapolation error). in_sample=True: the max runs only over the actions the data holds
    at s' (the quantity IQL's expectile approaches; CQL's penalty pushes the unseen ones below it instead).
    Returns Q after each sweep: sweeps + 1 arrays (S, A), Q_init first.
    """
    history = [Q_init.copy()]
    for _ in range(sweeps):
        Q = history[-1]
        v = np.where(in_data, Q, -np.inf).max(1) if in_sample else Q.max(1)  # (S,) value of each s'
        v = np.where(np.isfinite(v), v, 0.0)  # a state with no data at all has nothing to back up
        target = mdp.reward + gamma * (1.0 - mdp.done) * v[mdp.next_state]  # (S, A)
        history.append(np.where(in_data, target, Q))
    return history


def plot_offline(curves: dict, success: dict, path: Path, env_id: str, what: str) -> Path:
    """Left: overestimation on the data's own pairs per sweep, one line per random init. Right: greedy success."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [2, 1]})
    colors = {"max over all actions": "#d62728", "max over the data's actions": "#1f77b4"}
    for name, runs in curves.items():
        for i, curve in enumerate(runs):
            axes[0].plot(curve, color=colors[name], alpha=0.7, label=name if i == 0 else None)
    axes[0].axhline(0, color="k", lw=0.8)
    axes[0].set(
        xlabel="sweep over the dataset",
        ylabel="max over data pairs of Q - Q_data*",
        title=f"offline value iteration, {len(next(iter(curves.values())))} random initial Q",
    )
    axes[0].legend(loc="center right")
    names = list(success)
    axes[1].bar(range(len(names)), [success[n] for n in names], color=[colors[n] for n in names])
    axes[1].set_xticks(range(len(names)), [n.replace("max over ", "") for n in names])
    axes[1].set(
        ylabel="greedy episodes reaching the goal (fraction)",
        ylim=(0, 1.05),
        title="acting in the real env",
    )
    fig.suptitle(f"Extrapolation error on {env_id}: the data never holds {what}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def offline_demo(cfg: Config, out: Path, inits: int = 5, sweeps: int = 50) -> Path:
    """The dataset holds every (s, a) except turning left; Q starts from N(0, 1) noise (seeds 0..inits-1)."""
    mdp = build_mdp(cfg.env_id)
    in_data = np.ones(mdp.next_state.shape, bool)
    in_data[:, 0] = False  # action 0 (turn left) never appears in the data
    # Q_data*
    Q_data = offline_value_iteration(mdp, in_data, np.zeros(in_data.shape), cfg.gamma, True, 200)[
        -1
    ]
    curves, success = {}, {}
    for in_sample, name in ((False, "max over all actions"), (True, "max over the data's actions")):
        curves[name], wins = [], 0
        for seed in range(inits):
            Q_init = np.random.default_rng(seed).normal(size=in_data.shape)
            history = offline_value_iteration(mdp, in_data, Q_init, cfg.gamma, in_sample, sweeps)
            curves[name].append([float((Q - Q_data)[in_data].max()) for Q in history])
            # acts in the data
            ret, _ = greedy_episode(np.where(in_data, history[-1], -np.inf), mdp, cfg.env_id)
            wins += ret > 0
        success[name] = wins / inits
        print(
            f"{name}: overestimation after {sweeps} sweeps {np.mean([c[-1] for c in curves[name]]):.3f} "
            f"(mean over {inits} inits), greedy policy reaches the goal in {wins}/{inits}"
        )
    return plot_offline(curves, success, out / "offline.png", cfg.env_id, "'turn left'")


# ---------------------------------------------------------------------------------------------- figure


def plot(
    mdp: TabularMDP, Q_star: np.ndarray, residuals: list[float], log: dict, path: Path, env_id: str
) -> Path:
    """Three panels: V*(x, y) = max over dir and a of Q*, value iteration's convergence, Q-learning's error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [x for x, _, _ in mdp.states]
    ys = [y for _, y, _ in mdp.states]
    V = np.full((max(ys) + 2, max(xs) + 2), np.nan)
    for (x, y, _), q in zip(mdp.states, Q_star):
        V[y, x] = np.nanmax([V[y, x], q.max()])
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    im = axes[0].imshow(V, cmap="viridis")
    for y, x in zip(*np.nonzero(np.isnan(V[1:-1, 1:-1]))):
        # the one interior cell with no state
        axes[0].text(x + 1, y + 1, "goal", ha="center", va="center")
    axes[0].set(title="V*(x, y) = max over dir, a of Q*", xlabel="x (cell)", ylabel="y (cell)")
    fig.colorbar(im, ax=axes[0], label="value (discounted return)")
    axes[1].semilogy(range(1, len(residuals) + 1), np.maximum(residuals, 1e-12), marker=".")
    axes[1].set(title="value iteration", xlabel="sweep", ylabel="max |Q_new - Q| (log)")
    axes[2].plot(range(1, len(log["max_error"]) + 1), log["max_error"])
    axes[2].set(title="tabular Q-learning (real env)", xlabel="episode", ylabel="max |Q - Q*|")
    fig.suptitle(f"Bellman backups on {env_id}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Value iteration and tabular Q-learning on a Minigrid room."
    )
    parser.add_argument("--env-id", default=Config.env_id)
    parser.add_argument("--episodes", type=int, default=Config.episodes)
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--out", type=Path, default=Path("docs/figures"))
    parser.add_argument(
        "--offline",
        action="store_true",
        help="lesson 02's demo: value iteration on a fixed dataset",
    )
    args = parser.parse_args(argv)
    cfg = Config(env_id=args.env_id, episodes=args.episodes, seed=args.seed)
    if args.offline:
        print(f"wrote {offline_demo(cfg, args.out)}")
        return
    mdp = build_mdp(cfg.env_id)
    Q_star, residuals = value_iteration(mdp, cfg.gamma)
    Q, log = q_learning(cfg, mdp, Q_star)
    # ties count as optimal
    optimal = np.isclose(Q_star[np.arange(len(Q)), Q.argmax(1)], Q_star.max(1)).mean()
    print(f"{cfg.env_id}: {len(mdp.states)} states x {N_ACTIONS} actions")
    print(f"value iteration: {len(residuals)} sweeps, last change {residuals[-1]:.1e}")
    print(
        f"Q-learning: {cfg.episodes} episodes, max |Q - Q*| = {log['max_error'][-1]:.4f}, "
        f"its greedy action is optimal in {100 * optimal:.0f}% of states"
    )
    for name, table in (("value iteration", Q_star), ("Q-learning", Q)):
        ret, steps = greedy_episode(table, mdp, cfg.env_id, cfg.seed)
        print(f"greedy policy from {name}: return {ret:.3f} in {steps} steps")
    print(f"wrote {plot(mdp, Q_star, residuals, log, args.out / 'bellman.png', cfg.env_id)}")


if __name__ == "__main__":
    main()
