"""PointMaze in D4RL's maze2d recipe (minirl/pointmaze.py): the planner on a hand-drawn maze, the waypoint controller
in the real env, the stitching share on hand-made episodes, and a tiny real dataset through Minari and all six methods.

Expected values are worked out by hand here (paths, cell centres, shares) or taken from their sources (D4RL's
maze2d reference scores, d4rl/infos.py; Gymnasium-Robotics' cell conversion and 0.45 success radius)."""

import json

import gymnasium as gym
import minari
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from minirl import data, envs, pointmaze
from minirl.evaluate import EnvLoop
from minirl.pointmaze import Grid, WaypointController, bfs_path, stitching_share
from minirl.runs import algo_module, load_run

# 1 = wall. Rows top to bottom, columns left to right; cell (row, col).
HAND_MAZE = [
    [1, 1, 1, 1, 1, 1],
    [1, 0, 0, 0, 0, 1],
    [1, 0, 1, 1, 0, 1],
    [1, 0, 0, 1, 0, 1],
    [1, 1, 1, 1, 1, 1],
]
U_MAZE = [  # Gymnasium-Robotics' U_MAZE (gymnasium_robotics/envs/maze/maps.py)
    [1, 1, 1, 1, 1],
    [1, 0, 0, 0, 1],
    [1, 1, 1, 0, 1],
    [1, 0, 0, 0, 1],
    [1, 1, 1, 1, 1],
]


# ---------------------------------------------------------------------------------------------- the planner


def test_bfs_path_on_a_hand_drawn_maze():
    grid = Grid(HAND_MAZE)
    # (3, 2) is a dead end whose only way out is left: round the loop's left side, along the top, down the right
    assert bfs_path(grid, (3, 2), (3, 4)) == [
        (3, 2), (3, 1), (2, 1), (1, 1), (1, 2), (1, 3), (1, 4), (2, 4), (3, 4),
    ]  # fmt: skip
    assert bfs_path(grid, (1, 2), (1, 2)) == [(1, 2)]
    assert bfs_path(grid, (1, 1), (2, 2)) == []  # a wall cell is no goal
    # two equally short ways from (2, 1) to (1, 2): up first wins (neighbours tried up, down, left, right)
    open_square = Grid([[1, 1, 1, 1], [1, 0, 0, 1], [1, 0, 0, 1], [1, 1, 1, 1]])
    assert bfs_path(open_square, (2, 1), (1, 2)) == [(2, 1), (1, 1), (1, 2)]


def test_grid_cells_match_gymnasium_robotics():
    """Cell (1, 1) of the 5x5 U-maze is centred at (-1, 1) (cell size 1, maze centred on the origin, y up), and every
    open cell's centre is where Gymnasium-Robotics' own Maze puts it."""
    grid = Grid(U_MAZE)
    assert grid.center((1, 1)) == pytest.approx([-1.0, 1.0])
    assert grid.center((3, 3)) == pytest.approx([1.0, -1.0])
    pointmaze.register()
    env = gym.make("PointMaze_UMaze-v3")
    maze = env.unwrapped.maze
    for cell in grid.open_cells():
        assert grid.center(cell) == pytest.approx(maze.cell_rowcol_to_xy(np.array(cell)))
        assert tuple(grid.cell_of(grid.center(cell) + 0.3)) == cell
    env.close()


# ---------------------------------------------------------------------------------------------- the controller


def test_waypoint_controller_reaches_a_goal_around_a_wall():
    """In the real env on the hand-drawn maze, from the dead end (3, 2) to (3, 4) (eight cells round the loop), the
    noiseless controller gets within the env's 0.45 success radius and says it reached the goal."""
    pointmaze.register()
    env = gym.make(
        "PointMaze_UMaze-v3", maze_map=HAND_MAZE, continuing_task=True, reset_target=False
    )
    obs, _ = env.reset(
        seed=0, options={"reset_cell": np.array([3, 2]), "goal_cell": np.array([3, 4])}
    )
    goal_xy = np.array([4 + 0.5 - 3.0, 2.5 - 3 - 0.5])  # cell (3, 4) of a 5x6 map: (2, -1)
    assert np.abs(obs["desired_goal"] - goal_xy).max() <= 0.25  # the env's goal noise
    controller = WaypointController(Grid(HAND_MAZE), np.random.default_rng(0))
    rewards, reached = [], False
    for _ in range(400):
        action, reached = controller.act(obs)
        if reached:
            break
        obs, reward, _, _, _ = env.step(action)
        rewards.append(reward)
    env.close()
    assert reached
    assert np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"]) <= 0.45
    assert sum(rewards) >= 1
    assert rewards[0] == 0.0  # it started eight cells away


# ---------------------------------------------------------------------------------------------- stitching share


def test_stitching_share_on_hand_made_episodes():
    """U-maze, goal (-1, 1) = cell (1, 1), start cells (3, 1) at (-1, -1) and (3, 3) at (1, -1).

    A: (3, 1) -> along the bottom -> up the right -> goal: both starts precede the goal.
    B: the goal first, then (3, 3): the wrong order, counts for no start.
    C: (3, 1) and never the goal.  D: inside the radius (0.36 from the goal), never a start cell.
    E: (3, 3) -> goal.
    (3, 1): A of 5 = 0.2; (3, 3): A and E = 0.4; share = their mean 0.3; goal reached by A, B, D, E = 0.8."""
    A = [(-1, -1), (0, -1), (1, -1), (1, 0), (1, 1), (0, 1), (-1, 1)]
    B = [(-1, 1), (0, 1), (1, 1), (1, 0), (1, -1)]
    C = [(-1, -1), (0, -1)]
    D = [(-0.7, 0.8)]
    E = [(1, -1), (1, 0), (1, 1), (0, 1), (-0.9, 1.1)]
    positions = [np.array(p, float) for p in (A, B, C, D, E)]
    result = stitching_share(positions, Grid(U_MAZE), [(3, 1), (3, 3)], np.array([-1.0, 1.0]))
    assert result["per_cell"] == {"(3, 1)": pytest.approx(0.2), "(3, 3)": pytest.approx(0.4)}
    assert result["share"] == pytest.approx(0.3)
    assert result["goal_share"] == pytest.approx(0.8)
    assert result["episodes"] == 5


def test_evaluation_is_d4rls_fixed_goal():
    """D4RL's maze2d-umaze goal is the 'G' of "#GOO#", cell (1, 1) at (-1, 1); the start is any other open cell."""
    assert pointmaze.eval_start_cells("pointmaze-umaze") == [
        (1, 2),
        (1, 3),
        (2, 3),
        (3, 1),
        (3, 2),
        (3, 3),
    ]
    env = envs.make_env("pointmaze-umaze")
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        assert obs.shape == (6,)
        assert (
            np.abs(obs[4:] - [-1.0, 1.0]).max() <= 0.25
        )  # the goal, with the env's position noise
        assert np.linalg.norm(obs[:2] - obs[4:]) > 0.45  # not starting in the goal
    env.close()
    assert envs.get_spec("pointmaze-umaze").max_steps == 300  # maze2d-umaze-v1's horizon


# ---------------------------------------------------------------------------------------------- a tiny real dataset

STEPS = 600  # two episodes of the U-maze's 300 steps
TINY = {
    "bc": dict(hidden=16, n_hidden=1, batch_size=8),
    "cql": dict(hidden=16, n_hidden=1, batch_size=8),
    "iql": dict(hidden=16, n_hidden=1, batch_size=8),
    "dt": dict(n_layer=1, n_head=1, d_model=16, batch_size=8, context_len=4, warmup_steps=1),
    "tt": dict(n_layer=1, n_head=1, d_model=16, batch_size=8, seq_len=2, N=10, warmup_steps=1),
    "leap": dict(n_layer=1, n_head=1, d_model=16, batch_size=8, horizon=2, iterations=1),
}


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("pointmaze-minari")))
        data.collect("pointmaze-umaze", steps=STEPS, seed=0, progress=False)
        yield


def test_tiny_dataset_round_trips_through_minari(tiny_dataset):
    dataset = minari.load_dataset("minirl/pointmaze-umaze-v0")
    assert dataset.total_episodes == 2 and dataset.total_steps == STEPS
    assert set(dataset.observation_space.spaces) == {"observation", "achieved_goal", "desired_goal"}
    # maze2d-umaze-v1's reference returns (d4rl/infos.py): 23.85 (random) and 161.86 (expert)
    assert minari.get_normalized_score(dataset, np.array([23.85, 161.86])) == pytest.approx([0, 1])
    first, second = list(dataset.iterate_episodes())
    for ep in (first, second):
        obs = ep.observations
        assert obs["observation"].shape == (301, 4)
        assert np.array_equal(obs["achieved_goal"], obs["observation"][:, :2])
        assert np.abs(ep.actions).max() <= 1.0
        assert not ep.terminations.any() and ep.truncations[-1]
        # sparse reward: 1 when the step ends within 0.45 of the goal the step was steered to
        distance = np.linalg.norm(obs["achieved_goal"][1:] - obs["desired_goal"][:-1], axis=1)
        assert np.array_equal(ep.rewards, (distance <= 0.45).astype(ep.rewards.dtype))
    # never reset: the second episode starts where the first ended
    assert np.array_equal(
        second.observations["observation"][0], first.observations["observation"][-1]
    )
    # minirl's models read [observation, desired_goal]
    loaded = data.load("pointmaze-umaze")
    flat = np.concatenate(
        [first.observations["observation"], first.observations["desired_goal"]], 1
    )
    assert np.allclose(loaded[0]["observations"], flat.astype(np.float32))


@pytest.mark.parametrize(
    "task, fixture, state_size",
    [("pointmaze-umaze", "tiny_dataset", 6), ("pointmaze-umaze-maze2d", "tiny_maze2d", 4)],
)
@pytest.mark.parametrize("algo", ["bc", "cql", "iql", "dt", "tt", "leap"])
def test_every_method_trains_and_acts_on_pointmaze(
    request, task, fixture, state_size, algo, tmp_path
):
    """Both tasks: the goal in view (S = 6) and D4RL's maze2d (S = 4, no goal)."""
    from minirl.train import run_training

    request.getfixturevalue(fixture)
    torch.manual_seed(0)
    run = run_training(
        algo, task, steps=3, out=tmp_path / algo, progress=False, device="cpu", overrides=TINY[algo],
    )  # fmt: skip
    module, cfg, tok, model, state = load_run(run, "cpu")
    assert tok.state_size == state_size and tok.act_dim == 2
    options = {"beam_width": 2} if algo == "tt" else {}  # the rest: EvalOptions' defaults
    agent = algo_module(algo).Agent(model, tok, **options)
    loop = EnvLoop(agent, [envs.make_env(task) for _ in range(2)], 0, tok.encode_obs)
    for _ in range(2):
        loop.step()
    assert loop.lengths.tolist() == [2, 2]
    loop.close()
    if algo == "dt":
        # DT's default R̂ target on PointMaze: maze2d-umaze's expert return (d4rl/infos.py), on both tasks
        assert agent.target_return == pytest.approx(161.86)


def test_analyze_stitching_writes_the_share_and_the_figure(tiny_dataset, tmp_path):
    from minirl.train import run_training

    run = run_training(
        "bc", "pointmaze-umaze", steps=2, out=tmp_path / "bc", progress=False, device="cpu",
        overrides=TINY["bc"],
    )  # fmt: skip
    out = tmp_path / "figures"
    result = CliRunner().invoke(
        app, ["analyze", "stitching", str(run), "--episodes", "1", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads((out / "stitching-pointmaze-umaze.json").read_text())
    assert 0.0 <= report["share"] <= 1.0 and report["episodes"] == 2
    assert len(report["runs"][str(run)]["returns"]) == 1
    assert (out / "stitching-pointmaze-umaze.png").stat().st_size > 0


# ---------------------------------------------------------------------------------------------- the maze2d task


@pytest.fixture(scope="module")
def tiny_maze2d(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("maze2d-minari")))
        data.collect("pointmaze-umaze", steps=STEPS, seed=0, progress=False)
        data.collect("pointmaze-umaze-maze2d", steps=STEPS, seed=0, progress=False)
        yield data.load("pointmaze-umaze"), data.load("pointmaze-umaze-maze2d")


def test_maze2d_rewards_are_d4rls_sparse_relabelling_by_hand():
    goal = np.array([1.0, 2.0])
    xy = np.array([[1.0, 2.0], [1.3, 2.4], [1.0, 2.5], [1.0, 2.51], [-3.0, 0.0]])
    # distances 0, 0.5 (3-4-5 triangle scaled), 0.5, 0.51, far: D4RL counts <= 0.5
    assert pointmaze.maze2d_rewards(xy, goal).tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_maze2d_dataset_is_the_same_stream_without_the_goal(tiny_maze2d):
    goal_in_view, maze2d = tiny_maze2d
    # U-maze's evaluation goal: cell (1, 1) of the 5 x 5 map, centre x = 1 + 0.5 - 2.5, y = 2.5 - 1 - 0.5
    goal = np.array([-1.0, 1.0])
    assert np.allclose(
        pointmaze.Grid(pointmaze.eval_maze_map("pointmaze-umaze")).center((1, 1)), goal
    )
    for a, b in zip(goal_in_view, maze2d):
        assert b["observations"].shape == (len(a["rewards"]) + 1, 4)
        assert np.array_equal(
            b["observations"], a["observations"][:, :4]
        )  # same states, goal dropped
        assert np.array_equal(b["actions"], a["actions"])
        distance = np.linalg.norm(b["observations"][:-1, :2] - goal, axis=1)
        assert np.array_equal(b["rewards"], (distance <= 0.5).astype(np.float32))
    dataset = minari.load_dataset("minirl/pointmaze-umaze-maze2d-v0")
    assert dataset.observation_space.shape == (4,)


def test_maze2d_eval_env_hides_the_goal_and_pays_near_the_fixed_goal():
    env = envs.make_env("pointmaze-umaze-maze2d")
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4,)
    # put the point on the goal cell's centre: the next step pays 1 (it barely moves with a zero force)
    env.unwrapped.point_env.set_state(np.array([-1.0, 1.0]), np.zeros(2))
    obs, reward, terminated, truncated, _ = env.step(np.zeros(2, np.float32))
    assert reward == 1.0 and not terminated and np.linalg.norm(obs[:2] - [-1.0, 1.0]) < 0.05
    # 0.6 to the right of the centre (still open floor, cell (1, 2)): no reward
    env.unwrapped.point_env.set_state(np.array([-0.4, 1.0]), np.zeros(2))
    obs, reward, _, _, _ = env.step(np.zeros(2, np.float32))
    assert reward == 0.0 and np.linalg.norm(obs[:2] - [-0.4, 1.0]) < 0.05
    env.close()


def test_the_noiseless_expert_reaches_the_fixed_goal_and_random_actions_do_worse():
    refs = pointmaze.reference_returns("pointmaze-umaze-maze2d", episodes=2, seed=0)
    # the U-maze's longest path is 6 cells; the controller covers it well within the 300-step horizon, then stays
    assert all(r > 50 for r in refs["expert"])
    assert sum(refs["random"]) < sum(refs["expert"])
