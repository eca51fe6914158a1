"""PointMaze: D4RL's maze2d recipe on Gymnasium-Robotics' PointMaze, and the stitching diagnostic (issue 15).

The point mass (observation: x, y, vx, vy; action: a force in [-1, 1]^2) moves through a grid maze. A dataset is
made as D4RL made maze2d (scripts/generation/generate_maze2d_datasets.py and d4rl/pointmaze/waypoint_controller.py):

    1. pick a random goal cell; plan a path of cells to it (`bfs_path`, breadth-first search over open cells);
    2. steer the point along the path's waypoints with a PD controller (`WaypointController`):
       action = 10 * (waypoint - position) - 1 * velocity, clipped to [-1, 1];
    3. add Gaussian noise (std 0.5, D4RL's `--noisy`) to every action and clip again;
    4. when the goal is reached (within 0.1 and nearly still), pick a new goal: the point is never reset;
    5. cut the stream into episodes of the env's horizon (300 / 600 / 800 steps, as maze2d-*-v1).

Reward is sparse, as in maze2d-*-sparse: 1 on every step the point is within the goal radius of the goal in its
observation, else 0 (Gymnasium-Robotics' own `compute_reward`, radius 0.45; D4RL used 0.5).

Observations are stored in Minari's pointmaze layout (`observation` (4,), `achieved_goal` (2,), `desired_goal`
(2,)). minirl's flat-state models read ONE vector per step, `flat_observation`: [x, y, vx, vy, goal_x, goal_y] (S = 6),
the state followed by the goal it is steered to (`achieved_goal` repeats x, y and is left out). The stored step is
the one the controller decided on, so when the goal changes mid-episode the next row already holds the new goal.

Evaluation (`make_eval_env`) is D4RL's: one fixed goal cell per maze (the 'G' of d4rl/pointmaze/maze_model.py's
U_MAZE / MEDIUM_MAZE / LARGE_MAZE), a random start cell, the goal never moves (continuing task, no new target), the
env's horizon; the return is the number of steps spent within the goal radius, normalized with maze2d's reference
scores (envs.py).

Two tasks per maze, made from the same collected stream (same seed, same actions):
    pointmaze-<maze>          the goal in view: observations [x, y, vx, vy, goal_x, goal_y], reward 1 within 0.45
                              of the goal in the observation (Minari's D4RL/pointmaze layout). Every episode shows
                              how to reach its own goal, so a goal-conditioned policy never has to stitch.
    pointmaze-<maze>-maze2d   D4RL's maze2d-<maze>-sparse-v1 itself: observations [x, y, vx, vy] only, rewards
                              relabelled against the FIXED evaluation goal, 1 within 0.5 of its cell centre
                              (d4rl/scripts/relabel_maze2d_rewards.py; like it, the reward of step t looks at the
                              observation of step t). The data's goals are random and invisible, so reaching the
                              evaluation goal from far starts means joining pieces of episodes: the stitching test
                              that D4RL's published maze2d tables measure.

The stitching diagnostic (`stitching_share`) asks how many dataset episodes already go from an
evaluation start to that goal; `plot_rollouts` draws evaluation rollouts over the maze (`minirl analyze stitching`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
from collections import deque
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces

# Gymnasium-Robotics' maze maps (gymnasium_robotics/envs/maze/maps.py): 1 = wall, 0 = open; row 0 is the top.
# The evaluation goal cells (row, col) are the 'G' cells of D4RL's maze strings (d4rl/pointmaze/maze_model.py:
# U_MAZE "#GOO#" row 1, MEDIUM_MAZE "#OOO#OG#" row 6, LARGE_MAZE "#OO#OOO#OGO#" row 7), which are also the 'g' cells
# of Minari's evaluation maps (minari-dataset-generation-scripts, scripts/pointmaze/create_pointmaze_dataset.py).
EVAL_GOAL_CELLS = {"pointmaze-umaze": (1, 1), "pointmaze-medium": (6, 6), "pointmaze-large": (7, 9)}
GOAL_RADIUS = 0.45  # Gymnasium-Robotics' success radius (maze_v4.compute_reward)
MAZE2D_SUFFIX = "-maze2d"  # D4RL's task: no goal in view, reward against the fixed evaluation goal
MAZE2D_RADIUS = 0.5  # D4RL's sparse relabelling radius
ACTION_NOISE = 0.5  # std of the Gaussian noise added to every action (D4RL's --noisy)
OBS_KEYS = ("observation", "achieved_goal", "desired_goal")  # Minari's pointmaze layout
OBSERVATION_SPACE = spaces.Dict(
    observation=spaces.Box(-np.inf, np.inf, (4,), np.float64),
    achieved_goal=spaces.Box(-np.inf, np.inf, (2,), np.float64),
    desired_goal=spaces.Box(-np.inf, np.inf, (2,), np.float64),
)
DESCRIPTION = (
    "{gym_id} in D4RL's maze2d recipe: a BFS planner and a PD waypoint controller (gains 10, -1) drive the point "
    "to random goal cells, never resetting, Gaussian action noise std {noise}; episodes cut at the env's horizon "
    "({horizon} steps); {reward}."
)
REWARD_TEXT = {  # the end of DESCRIPTION, per task
    False: "sparse reward 1 within 0.45 of the observation's desired_goal",
    True: "observations [x, y, vx, vy] only; sparse reward 1 within 0.5 of the fixed evaluation goal (D4RL's "
    "maze2d-*-sparse relabelling)",
}

Cell = tuple[int, int]


def maze_of(name: str) -> str:
    """`pointmaze-umaze-maze2d` -> `pointmaze-umaze` (the maze both tasks share)."""
    return name.removesuffix(MAZE2D_SUFFIX)


def is_maze2d(name: str) -> bool:
    return name.endswith(MAZE2D_SUFFIX)


def goal_cell(name: str) -> Cell:
    """D4RL's evaluation goal cell of a pointmaze env or dataset name (either task); ValueError for any other."""
    if maze_of(name) not in EVAL_GOAL_CELLS:
        raise ValueError(f"'{name}' is not a pointmaze task")
    return EVAL_GOAL_CELLS[maze_of(name)]


def goal_radius(name: str) -> float:
    """The task's success radius: D4RL's 0.5 for a `-maze2d` name, Gymnasium-Robotics' 0.45 otherwise."""
    return MAZE2D_RADIUS if is_maze2d(name) else GOAL_RADIUS


# ---------------------------------------------------------------------------------------------------------------
# The maze as a grid: cells <-> coordinates, and the planner
# ---------------------------------------------------------------------------------------------------------------


class Grid:
    """A maze map (list of rows, 1 = wall) and Gymnasium-Robotics' cell <-> (x, y) conversion (cell size 1, the
    maze centred on the origin, x to the right along columns, y up along rows read bottom to top)."""

    def __init__(self, maze_map: list[list]):
        self.walls = np.array([[cell == 1 for cell in row] for row in maze_map], bool)
        self.rows, self.cols = self.walls.shape

    def open_cells(self) -> list[Cell]:
        return [(int(i), int(j)) for i, j in zip(*np.nonzero(~self.walls))]

    def center(self, cell: Cell) -> np.ndarray:
        """(row, col) -> the (x, y) of the cell's centre."""
        return np.array([cell[1] + 0.5 - self.cols / 2, self.rows / 2 - cell[0] - 0.5])

    def cell_of(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) positions -> (..., 2) int (row, col) of the cells holding them."""
        xy = np.asarray(xy, np.float64)
        row = np.floor(self.rows / 2 - xy[..., 1]).astype(np.int64)
        col = np.floor(xy[..., 0] + self.cols / 2).astype(np.int64)
        return np.stack([row, col], -1)


def bfs_path(grid: Grid, start: Cell, goal: Cell) -> list[Cell]:
    """The shortest path of open cells from start to goal (both included), moving up, down, left or right.

    Breadth-first search: cells are visited in order of distance from start; neighbours are tried in the order up,
    down, left, right, so among equally short paths the one found first is always the same. [] if none exists."""
    if grid.walls[start] or grid.walls[goal]:
        return []
    previous: dict[Cell, Cell | None] = {start: None}
    frontier = deque([start])
    while frontier:
        cell = frontier.popleft()
        if cell == goal:
            break
        for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            nxt = (cell[0] + di, cell[1] + dj)
            inside = 0 <= nxt[0] < grid.rows and 0 <= nxt[1] < grid.cols
            if inside and not grid.walls[nxt] and nxt not in previous:
                previous[nxt] = cell
                frontier.append(nxt)
    if goal not in previous:
        return []
    path = [goal]
    while previous[path[-1]] is not None:
        path.append(previous[path[-1]])
    return path[::-1]


class WaypointController:
    """D4RL's maze2d waypoint controller (d4rl/pointmaze/waypoint_controller.py), with BFS in place of its grid
    Q-iteration (both give a shortest path of cells).

    On a new goal it plans the cells to it; the waypoints are the centres of the cells after the start one, each
    moved by -U(0, 0.2) per axis (D4RL's jitter, so paths vary), and finally the goal itself. A PD law steers to the
    current waypoint; the next one is taken once the point is within `threshold` of it and moved less than
    `threshold` since the last step. `reached` is true when that holds at the goal."""

    def __init__(
        self, grid: Grid, rng: np.random.Generator, p_gain=10.0, d_gain=-1.0, threshold=0.1
    ):
        self.grid, self.rng = grid, rng
        self.p_gain, self.d_gain, self.threshold = p_gain, d_gain, threshold
        self.goal = None
        self.waypoints: list[np.ndarray] = []

    def _plan(self, position: np.ndarray, goal: np.ndarray) -> None:
        start, end = (tuple(int(v) for v in self.grid.cell_of(p)) for p in (position, goal))
        cells = bfs_path(self.grid, start, end)[1:-1]  # between the start cell and the goal's cell
        jitter = self.rng.uniform(0, 0.2, (len(cells), 2))
        self.waypoints = [self.grid.center(c) - j for c, j in zip(cells, jitter)] + [goal.copy()]
        self.index, self.goal, self.previous = 0, goal.copy(), position.copy()

    def act(self, obs: dict) -> tuple[np.ndarray, bool]:
        """Minari-layout observation -> (action (2,) in [-1, 1], whether the goal is reached)."""
        position, velocity, goal = obs["achieved_goal"], obs["observation"][2:], obs["desired_goal"]
        if self.goal is None or np.linalg.norm(goal - self.goal) > 1e-3:
            self._plan(position, goal)
        still = np.linalg.norm(position - self.previous) < self.threshold
        close = np.linalg.norm(position - self.waypoints[self.index]) < self.threshold
        reached = bool(close and still and self.index == len(self.waypoints) - 1)
        if close and still and self.index < len(self.waypoints) - 1:
            self.index += 1
        self.previous = position.copy()
        action = self.p_gain * (self.waypoints[self.index] - position) + self.d_gain * velocity
        return np.clip(action, -1.0, 1.0), reached


# ---------------------------------------------------------------------------------------------------------------
# Environments
# ---------------------------------------------------------------------------------------------------------------


def register() -> None:
    """Imports Gymnasium-Robotics, which registers the PointMaze ids (its import prints an Adroit notice: hidden)."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        import gymnasium_robotics

    gym.register_envs(gymnasium_robotics)


def flat_observation(obs: dict) -> np.ndarray:
    """Minari-layout observation(s) -> what minirl's models read: [observation, desired_goal], (..., 6)."""
    return np.concatenate([obs["observation"], obs["desired_goal"]], -1)


def maze2d_rewards(xy: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """D4RL's sparse maze2d reward: 1.0 where the (..., 2) position is within MAZE2D_RADIUS of `goal`, else 0.0."""
    return (np.linalg.norm(np.asarray(xy) - goal, axis=-1) <= MAZE2D_RADIUS).astype(np.float32)


def maze2d_episode(episode: dict, goal: np.ndarray) -> dict:
    """A collected (Minari-layout) episode as D4RL's maze2d stores it: observations (T+1, 4) without the goal,
    rewards relabelled against the fixed evaluation goal from the observation of the same step (as D4RL does)."""
    observations = episode["observation"]
    out = {k: v for k, v in episode.items() if k not in OBS_KEYS}
    out["observations"] = observations
    out["rewards"] = maze2d_rewards(observations[:-1, :2], goal)
    return out


class Maze2dTask(gym.Wrapper):
    """D4RL's maze2d evaluation: the agent sees [x, y, vx, vy] only, and the reward is 1 within MAZE2D_RADIUS of the
    evaluation goal's cell centre (the env's own reward, against its slightly noisy goal, is replaced)."""

    def __init__(self, env: gym.Env, goal: np.ndarray):
        super().__init__(env)
        self.goal = goal
        self.observation_space = spaces.Box(-np.inf, np.inf, (4,), np.float64)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        return obs["observation"].copy(), info

    def step(self, action):
        obs, _, terminated, truncated, info = self.env.step(action)
        reward = float(maze2d_rewards(obs["observation"][:2], self.goal))
        return obs["observation"].copy(), reward, terminated, truncated, info


class FlatGoalObservation(gym.ObservationWrapper):
    """Hands minirl's models `flat_observation(obs)` (6 floats) instead of the goal-aware dict."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.observation_space = spaces.Box(-np.inf, np.inf, (6,), np.float64)

    def observation(self, observation: dict) -> np.ndarray:
        return flat_observation(observation)


def eval_maze_map(name: str) -> list[list]:
    """The maze map of dataset/env `name` with D4RL's evaluation goal cell marked 'g' (the only goal cell)."""
    register()
    base = gym.spec(_gym_id(name)).kwargs["maze_map"]
    maze_map = [list(row) for row in base]
    i, j = goal_cell(name)
    maze_map[i][j] = "g"
    return maze_map


def _gym_id(name: str) -> str:
    from minirl.envs import get_spec

    return get_spec(name).gym_id


def eval_goal(name: str) -> np.ndarray:
    """The (x, y) centre of D4RL's evaluation goal cell: where the maze2d reward is paid, where stitching ends."""
    return Grid(eval_maze_map(name)).center(goal_cell(name))


def eval_env_kwargs(name: str) -> dict:
    """D4RL's evaluation task: fixed goal cell, random start among the other open cells, the goal never moves."""
    return dict(maze_map=eval_maze_map(name), continuing_task=True, reset_target=False)


def make_eval_env(name: str, **kwargs) -> gym.Env:
    """The evaluation env minirl's agents act in: D4RL's fixed goal, the env's horizon; flat 6-float observations
    (goal in view), or for a `-maze2d` name D4RL's 4-float observations and reward (Maze2dTask)."""
    register()
    env = gym.make(_gym_id(name), **dict(eval_env_kwargs(name), **kwargs))
    if is_maze2d(name):
        return Maze2dTask(env, eval_goal(name))
    return FlatGoalObservation(env)


# ---------------------------------------------------------------------------------------------------------------
# Collection (written by minirl/data.py's Minari writer)
# ---------------------------------------------------------------------------------------------------------------


def collect_episodes(
    name: str, steps: int, seed: int, advance: Callable[[int], None], noise: float = ACTION_NOISE
) -> list[dict]:
    """`steps` transitions of the maze2d recipe (module docstring), cut into episodes of the env's horizon (a
    remainder ends as one shorter episode). Each episode: observation (T+1, 4), achieved_goal (T+1, 2),
    desired_goal (T+1, 2) float64; actions (T, 2) float32; rewards (T,); terminations (T,) all False;
    truncations (T,) True at the end. Same name, steps and seed -> identical arrays. A `-maze2d` name collects the
    same stream (same steps and seed) and stores each episode as `maze2d_episode` does."""
    from minirl.envs import get_spec, quiet

    register()
    if is_maze2d(name):
        stream = collect_episodes(maze_of(name), steps, seed, advance, noise)
        return [maze2d_episode(episode, eval_goal(name)) for episode in stream]
    horizon = get_spec(name).max_steps
    rng = np.random.default_rng(seed)
    with quiet():
        # no time limit: the stream is never reset; goals are set by hand below
        env = gym.make(_gym_id(name), continuing_task=True, reset_target=False).unwrapped
        obs, _ = env.reset(seed=seed)
    grid = Grid(env.maze.maze_map)
    goal_cells = grid.open_cells()
    controller = WaypointController(grid, rng)

    def new_goal() -> None:
        cell = goal_cells[rng.integers(len(goal_cells))]
        env.goal = env.add_xy_position_noise(env.maze.cell_rowcol_to_xy(np.array(cell)))
        env.update_target_site_pos()

    new_goal()
    obs = dict(obs, desired_goal=env.goal.copy())
    episodes, done_steps = [], 0
    while done_steps < steps:
        T = min(horizon, steps - done_steps)
        rows = {key: [obs[key]] for key in OBS_KEYS}
        actions, rewards = np.zeros((T, 2), np.float32), np.zeros(T, np.float32)
        for t in range(T):
            action, reached = controller.act(obs)
            if reached:  # D4RL: a new random goal, the point stays where it is
                new_goal()
                obs = dict(obs, desired_goal=env.goal.copy())
                rows["desired_goal"][-1] = obs["desired_goal"]
                action, _ = controller.act(obs)
            action = np.clip(action + rng.normal(0.0, noise, 2), -1.0, 1.0)
            with quiet():
                obs, reward, _, _, _ = env.step(action.astype(np.float32))
            actions[t], rewards[t] = action, reward
            for key in OBS_KEYS:
                rows[key].append(obs[key])
        truncations = np.zeros(T, bool)
        truncations[-1] = True
        episodes.append(
            dict(
                **{key: np.array(rows[key], np.float64) for key in OBS_KEYS},
                actions=actions,
                rewards=rewards,
                terminations=np.zeros(T, bool),
                truncations=truncations,
            )
        )
        done_steps += T
        advance(T)
    env.close()
    return episodes


def minari_fields(name: str) -> dict:
    """What data.py's Minari writer records for a pointmaze dataset: the collection and evaluation env specs, the
    dict observation space, maze2d's reference scores (so minari.get_normalized_score matches D4RL's tables)."""
    from minirl.envs import get_spec

    register()
    spec = get_spec(name)
    registered = gym.spec(spec.gym_id)
    collect_kwargs = dict(continuing_task=True, reset_target=False)
    return dict(
        env=dataclasses.replace(registered, kwargs=dict(registered.kwargs, **collect_kwargs)),
        eval_env=dataclasses.replace(
            registered, kwargs=dict(registered.kwargs, **eval_env_kwargs(name))
        ),
        observation_space=OBSERVATION_SPACE["observation"]
        if is_maze2d(name)
        else OBSERVATION_SPACE,
        ref_min_score=spec.ref_min_score,
        ref_max_score=spec.ref_max_score,
    )


# ---------------------------------------------------------------------------------------------------------------
# The stitching diagnostic and the rollout figure
# ---------------------------------------------------------------------------------------------------------------


def start_then_goal(in_start: np.ndarray, in_goal: np.ndarray) -> np.ndarray:
    """One episode: for each start cell c, is the point in c at some step t and in the goal region at some t' >= t?

    in_start (C, T) bool: in start cell c at step t; in_goal (T,) bool. Returns (C,) bool. Only the FIRST visit of
    c matters (if any later visit is followed by the goal, the first is too), and the goal only at its LAST step."""
    if not in_goal.any():
        return np.zeros(len(in_start), bool)
    last_goal = np.flatnonzero(in_goal)[-1]
    return in_start[:, : last_goal + 1].any(axis=1)


def stitching_share(
    positions: list[np.ndarray],
    grid: Grid,
    start_cells: list[Cell],
    goal: np.ndarray,
    radius: float = GOAL_RADIUS,
) -> dict:
    """How many dataset episodes already do what evaluation asks: start in an evaluation start cell, later reach
    the goal region (within `radius` of `goal`). positions: one (T+1, 2) array of (x, y) per episode.

    For each start cell, the share of episodes that are in that cell at some step t and within the goal region at
    some step t' >= t. `share` is their mean over the start cells (evaluation draws its start uniformly among
    them). Near 0: no episode shows the way from an evaluation start to the goal, so success requires stitching
    pieces of different episodes. Returns {"share", "per_cell": {"(i, j)": share}, "episodes", "goal_share"}."""
    hits = []  # per episode: (C,) start cell, then the goal
    reaches_goal = []  # per episode: whether it reaches the goal region at all
    for xy in positions:
        in_goal = np.linalg.norm(xy - goal, axis=-1) <= radius  # (T+1,)
        cells = grid.cell_of(xy)  # (T+1, 2)
        in_start = np.stack([(cells == cell).all(-1) for cell in start_cells])  # (C, T+1)
        hits.append(start_then_goal(in_start, in_goal))
        reaches_goal.append(bool(in_goal.any()))
    shares = np.mean(hits, axis=0) if positions else np.zeros(len(start_cells))
    per_cell = {str(tuple(cell)): float(v) for cell, v in zip(start_cells, shares)}
    return dict(
        share=float(np.mean(list(per_cell.values()))) if per_cell else 0.0,
        per_cell=per_cell,
        episodes=len(positions),
        goal_share=float(np.mean(reaches_goal)) if positions else 0.0,
    )


def eval_start_cells(name: str) -> list[Cell]:
    """The cells the evaluation env may start in: every open cell but the goal's (Gymnasium-Robotics resets to a
    non-goal cell when the map marks a 'g')."""
    grid = Grid(eval_maze_map(name))
    return [c for c in grid.open_cells() if c != goal_cell(name)]


def reference_returns(name: str, episodes: int = 50, seed: int = 0) -> dict:
    """The two ends of the score scale measured on THIS evaluation env (episode i resets with seed + i, as
    `minirl eval` does): "expert", the planner and waypoint controller steering to the fixed goal without noise
    (the dataset's behaviour minus its noise; D4RL's maze2d expert was this controller), and "random", uniform
    actions in [-1, 1]^2. Returns {"expert": [returns], "random": [returns]}. D4RL's reference returns were measured
    on D4RL's own maze env; these show how far this env's scale is from them."""
    from minirl.envs import make_env

    grid = Grid(eval_maze_map(name))
    goal = eval_goal(name)
    out = {"expert": [], "random": []}
    for kind in out:
        for i in range(episodes):
            env = make_env(name)
            obs, _ = env.reset(seed=seed + i)
            env.action_space.seed(seed + i)
            controller = WaypointController(grid, np.random.default_rng(seed + i))
            total, done = 0.0, False
            while not done:
                if kind == "random":
                    action = env.action_space.sample()
                else:
                    state = dict(observation=obs[:4], achieved_goal=obs[:2], desired_goal=goal)
                    action = controller.act(state)[0].astype(np.float32)
                obs, reward, terminated, truncated, _ = env.step(action)
                total, done = total + reward, terminated or truncated
            out[kind].append(total)
            env.close()
    return out


def rollout_paths(run_dir: str | Path, episodes: int = 3, seed: int = 0) -> dict:
    """A run's agent on its pointmaze evaluation task: (x, y) of every step of `episodes` episodes (seeds seed,
    seed+1, ...), the returns and the normalized scores."""
    from minirl.envs import make_env, normalized_score
    from minirl.evaluate import EnvLoop
    from minirl.runs import load_run

    module, cfg, tok, model, state = load_run(run_dir, "cpu")
    agent = module.Agent(model, tok)  # its EvalOptions' defaults
    loop = EnvLoop(agent, [make_env(state["env"]) for _ in range(episodes)], seed, tok.encode_obs)
    paths = [[np.asarray(o)[:2]] for o in loop.obs]
    while not loop.done.all():
        live = ~loop.done
        loop.step()
        for i in np.flatnonzero(live):
            paths[i].append(np.asarray(loop.obs[i])[:2])
    loop.close()
    return dict(
        algo=state["algo"],
        env=state["env"],
        paths=[np.array(p) for p in paths],
        returns=loop.returns.tolist(),
        scores=[normalized_score(state["env"], r) for r in loop.returns],
    )


def plot_rollouts(name: str, rollouts: list[dict], path: Path) -> Path:
    """One panel per run: the maze walls (grey), the goal region (red circle), each rollout's path from its start
    (circle) to its end (cross)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = Grid(eval_maze_map(name))
    goal = eval_goal(name)
    fig, axes = plt.subplots(
        1, len(rollouts), figsize=(3.2 * len(rollouts), 3.2 * grid.rows / grid.cols), squeeze=False
    )
    for ax, result in zip(axes[0], rollouts):
        for i, j in zip(*np.nonzero(grid.walls)):
            x, y = grid.center((i, j))
            ax.add_patch(plt.Rectangle((x - 0.5, y - 0.5), 1, 1, color="0.6"))
        ax.add_patch(plt.Circle(goal, goal_radius(name), color="red", alpha=0.5))
        for k, xy in enumerate(result["paths"]):
            line = ax.plot(xy[:, 0], xy[:, 1], lw=1, label=f"return {result['returns'][k]:.0f}")
            ax.plot(*xy[0], "o", color=line[0].get_color())
            ax.plot(*xy[-1], "x", color=line[0].get_color())
        mean = np.mean([s for s in result["scores"] if s is not None])
        ax.set_title(f"{result['algo']}: score {mean:.1f}", fontsize=9)
        ax.set_xlim(-grid.cols / 2, grid.cols / 2)
        ax.set_ylim(-grid.rows / 2, grid.rows / 2)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        # below the maze, where it hides neither a path nor the goal
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def dataset_stitching_share(dataset: str) -> dict:
    """`stitching_share` of a pointmaze dataset on disk against its own task's evaluation goal and radius:
    {"dataset", "radius", **stitching_share(...)}. ValueError for a dataset of another env."""
    from minirl import data

    env = data.env_of(dataset)
    if maze_of(env) not in EVAL_GOAL_CELLS:
        raise ValueError(f"stitching needs a pointmaze dataset, got '{dataset}'")
    grid = Grid(eval_maze_map(env))
    positions = [ep["observations"][:, :2] for ep in data.load(dataset)]
    share = stitching_share(
        positions, grid, eval_start_cells(env), eval_goal(env), goal_radius(env)
    )
    return dict(dataset=dataset, radius=goal_radius(env), **share)


def analyze_stitching(
    runs: list[str], dataset: str | None, out: Path, episodes: int = 3
) -> list[Path]:
    """`minirl analyze stitching RUN... [--dataset NAME]`: the stitching share of the dataset (default: the first
    run's) -> stitching-<dataset>.json, and `episodes` evaluation rollouts per run drawn over the maze ->
    stitching-<dataset>.png. Returns the files written."""
    from minirl import data
    from minirl.runs import load_checkpoint

    dataset = dataset or load_checkpoint(Path(runs[0]))["dataset"]
    env = data.env_of(dataset)
    report = dataset_stitching_share(dataset)
    rollouts = [rollout_paths(run, episodes) for run in runs]
    for run, result in zip(runs, rollouts):
        if result["env"] != env:
            raise ValueError(f"run {run} acts on {result['env']}, not on {env}")
    report["runs"] = {
        run: dict(algo=r["algo"], returns=r["returns"], scores=r["scores"])
        for run, r in zip(runs, rollouts)
    }
    out = Path(out)
    json_path = out / f"stitching-{dataset}.json"
    json_path.write_text(json.dumps(report, indent=1))
    return [json_path, plot_rollouts(env, rollouts, out / f"stitching-{dataset}.png")]
