"""The environments minirl knows: short names -> Gymnasium ids and the facts the models need.

`halfcheetah` is Gymnasium's MuJoCo HalfCheetah-v5 (dense reward, 1000-step episodes). The `babyai-*` levels are
Minigrid's BabyAI (sparse reward: 1 - 0.9 * steps/max_steps on success, else 0); they include the seven levels of
the LEAP paper (Chen et al. 2023), built as its official code (github.com/hychen-naza/LEAP, babyai/levels) defined
them where Minigrid's level of the same name differs. Normalized scores use D4RL's reference returns for
HalfCheetah, so numbers read like the papers': 100 * (R - random) / (expert - random).

BabyAI observation modes (`make_env(name, obs=...)`, chosen when a dataset is collected and recorded in it):
- `egocentric`: what the env gives, the agent's 7x7 view in front of it, its direction and the mission.
- `full`: the LEAP paper's input, `FullObservation`. PRIVILEGED INFORMATION: the whole grid, the agent's cell and
  the goal's cell, which the BabyAI bot computes from the level's internals; an agent could not see it.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
from gymnasium import spaces


@dataclass(frozen=True)
class EnvSpec:
    name: str  # minirl's short name
    gym_id: str
    discrete: bool  # discrete actions (BabyAI) or a continuous box (HalfCheetah)
    # flat observation size (HalfCheetah); BabyAI observations are encoded by the tokenizer
    obs_dim: int
    act_dim: int  # action dimensions (continuous) or number of actions (discrete)
    max_steps: int
    ref_min_score: float | None = None  # D4RL's random-policy return
    ref_max_score: float | None = None  # D4RL's expert return
    # passed to gym.make: where the LEAP paper's level differs from Minigrid's registered one of that name
    gym_kwargs: dict = field(default_factory=dict)


# The LEAP paper's levels, from its official babyai/levels/iclr19_levels.py: GoToLocalS7N5, GoToLocalS8N7 and
# GoToSeqS5R2 are Minigrid's own. Its GoToObjMazeS4 and S7 open all doors (Minigrid's keep them closed), so they are
# made with doors_open=True. Its GoToObjMazeS4R2Close (one object, 2x2 rooms of size 4, doors closed) is exactly
# Minigrid's BabyAI-GoToObjMazeS4R2-v0, whose doors stay closed. max_steps: the levels' own limits.
ENVS: dict[str, EnvSpec] = {
    "halfcheetah": EnvSpec(
        "halfcheetah", "HalfCheetah-v5", False, 17, 6, 1000, -280.178953, 12135.0
    ),
    "babyai-gotoredball": EnvSpec("babyai-gotoredball", "BabyAI-GoToRedBall-v0", True, 0, 7, 64),
    "babyai-gotolocal": EnvSpec("babyai-gotolocal", "BabyAI-GoToLocal-v0", True, 0, 7, 64),
    "babyai-pickuploc": EnvSpec("babyai-pickuploc", "BabyAI-PickupLoc-v0", True, 0, 7, 64),
    "babyai-putnextlocal": EnvSpec(
        "babyai-putnextlocal", "BabyAI-PutNextLocal-v0", True, 0, 7, 128
    ),
    "babyai-gotolocal-s7n5": EnvSpec(
        "babyai-gotolocal-s7n5", "BabyAI-GoToLocalS7N5-v0", True, 0, 7, 49
    ),
    "babyai-gotolocal-s8n7": EnvSpec(
        "babyai-gotolocal-s8n7", "BabyAI-GoToLocalS8N7-v0", True, 0, 7, 64
    ),
    "babyai-gotoobjmaze-s4": EnvSpec(
        "babyai-gotoobjmaze-s4",
        "BabyAI-GoToObjMazeS4-v0",
        True,
        0,
        7,
        144,
        gym_kwargs={"doors_open": True},
    ),
    "babyai-gotoobjmaze-s7": EnvSpec(
        "babyai-gotoobjmaze-s7",
        "BabyAI-GoToObjMazeS7-v0",
        True,
        0,
        7,
        441,
        gym_kwargs={"doors_open": True},
    ),
    # its limit grows with the number of instructions: 100 steps each, at most 4
    "babyai-gotoseq-s5r2": EnvSpec("babyai-gotoseq-s5r2", "BabyAI-GoToSeqS5R2-v0", True, 0, 7, 400),
    "babyai-gotoobjmaze-s4r2close": EnvSpec(
        "babyai-gotoobjmaze-s4r2close", "BabyAI-GoToObjMazeS4R2-v0", True, 0, 7, 64
    ),
}
OBS_MODES = ("egocentric", "full")  # BabyAI observation modes (the module docstring)
FULL_SUFFIX = "-full"  # a `full` dataset is named after its level plus this: babyai-gotolocal-full
# PointMaze (Gymnasium-Robotics; minirl/pointmaze.py): observation [x, y, vx, vy, goal_x, goal_y], D4RL's horizons
# and its maze2d-{umaze,medium,large}-v1 sparse reference returns (d4rl/infos.py REF_MIN_SCORE / REF_MAX_SCORE,
# also in d4rl/pointmaze/__init__.py), so normalized scores read like the maze2d tables.
# `pointmaze-<maze>-maze2d` is D4RL's maze2d task itself: [x, y, vx, vy] only (S = 4, no goal in view) and the
# sparse reward relabelled against the fixed evaluation goal, as D4RL's datasets are (pointmaze.py's docstring).
ENVS.update(
    {
        f"pointmaze-{maze}{suffix}": EnvSpec(
            f"pointmaze-{maze}{suffix}", gym_id, False, obs_dim, 2, steps, low, high
        )
        for maze, gym_id, steps, low, high in [
            ("umaze", "PointMaze_UMaze-v3", 300, 23.85, 161.86),
            ("medium", "PointMaze_Medium-v3", 600, 13.13, 277.39),
            ("large", "PointMaze_Large-v3", 800, 6.7, 273.99),
        ]
        for suffix, obs_dim in (("", 6), ("-maze2d", 4))
    }
)


class UnknownNameError(ValueError):
    """A name (env, dataset, algorithm) that minirl does not know; the message is one line listing valid ones."""


def get_spec(name: str) -> EnvSpec:
    """Env spec for a short env name or a dataset name such as `halfcheetah-medium` / `babyai-gotolocal(-full)`."""
    if name in ENVS:
        return ENVS[name]
    if name.endswith(FULL_SUFFIX) and name.removesuffix(FULL_SUFFIX) in ENVS:
        return ENVS[name.removesuffix(FULL_SUFFIX)]
    if name.startswith("halfcheetah"):
        return ENVS["halfcheetah"]
    raise UnknownNameError(f"unknown environment '{name}'; valid: {', '.join(ENVS)}")


@contextlib.contextmanager
def quiet():
    """Silences stray prints (BabyAI's `Sampling rejected`) and MuJoCo's compile warnings, which it would otherwise
    append to MUJOCO_LOG.TXT in the working directory (HalfCheetah's XML uses a deprecated attribute)."""
    import mujoco

    old = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(lambda message: None)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        mujoco.set_mju_user_warning(old)


def make_env(name: str, obs: str | None = None, **kwargs) -> gym.Env:
    """A fresh Gymnasium env for a short name (or dataset name); BabyAI imports register its ids.

    obs (BabyAI only): "egocentric" (None: the env as Minigrid makes it) or "full" (wrapped in FullObservation:
    privileged information, see the module docstring)."""
    spec = get_spec(name)
    if obs not in (None, *OBS_MODES):
        raise ValueError(f"unknown observation mode '{obs}'; valid: {', '.join(OBS_MODES)}")
    if obs == "full" and not spec.discrete:
        raise ValueError(f"observation mode 'full' is for BabyAI levels, not {spec.name}")
    if spec.discrete:
        import minigrid  # noqa: F401  (registers the BabyAI ids)

        with quiet():
            env = gym.make(spec.gym_id, **{**spec.gym_kwargs, **kwargs})
        return FullObservation(env) if obs == "full" else env
    if spec.name.startswith("pointmaze-"):
        from minirl.pointmaze import make_eval_env  # D4RL's fixed goal, flat observations

        with quiet():
            return make_eval_env(spec.name, **kwargs)
    with quiet():
        return gym.make(spec.gym_id, **kwargs)


def make_vector_env(name: str, n: int) -> gym.vector.SyncVectorEnv:
    """n copies of the env stepped together (one batched policy call per step)."""
    spec = get_spec(name)
    if spec.discrete:
        import minigrid  # noqa: F401
    with quiet():
        return gym.vector.SyncVectorEnv(
            [lambda: gym.make(spec.gym_id, **spec.gym_kwargs) for _ in range(n)]
        )


def bot_goal(env) -> np.ndarray:
    """(2,) int64 cell (x, y) of the goal the BabyAI bot computes for a freshly reset BabyAI env, as the LEAP code does.

    The bot (minigrid.utils.baby_ai_bot) turns the mission into a stack of subgoals; the one on top, the first it
    pursues, is always "go next to" an object description (GoTo: the target; PickUp: the object; PutNext: the object
    to move; a sequence: its first instruction). Of the objects matching it (the level lists them at reset), the goal
    is the one nearest the agent (Euclidean distance, the first on ties), the official `goal_selection`. It is fixed
    for the episode, as in the official code, also for GoToSeq's later instructions."""
    positions = bot_targets(env)
    distance = ((positions - np.array(env.unwrapped.agent_pos)) ** 2).sum(1)
    return positions[int(np.argmin(distance))]


def bot_targets(env) -> np.ndarray:
    """(matches, 2) int64 cells of the objects matching the BabyAI bot's first subgoal (see `bot_goal`) in a freshly
    reset BabyAI env: one row when the mission names a single object, more when it is ambiguous ("go to a ball")."""
    from minigrid.utils.baby_ai_bot import BabyAIBot

    target = BabyAIBot(env.unwrapped).stack[-1].datum  # an ObjDesc
    return np.array(target.obj_poss, np.int64)


class FullObservation(gym.Wrapper):
    """BabyAI's `full` observation mode, the LEAP paper's input. PRIVILEGED INFORMATION: no agent sees this.

    Observations (x across, y down, as minigrid indexes its grid):
        grid       uint8 (W, H, 3)  the whole grid, encoded as the egocentric view is (type, colour, state per
                                    cell), the agent drawn in its cell (type 10, state = its direction), as
                                    minigrid's FullyObsWrapper and the official `gen_full_obs` do
        direction  int              the agent's direction 0..3 (east, south, west, north)
        agent_pos  int64 (2,)       the agent's cell
        goal_pos   int64 (2,)       `bot_goal`: the cell of the object the BabyAI bot goes to first, fixed at reset
        mission    str
    """

    def __init__(self, env: gym.Env):
        from minigrid.wrappers import FullyObsWrapper

        super().__init__(FullyObsWrapper(env))
        level = env.unwrapped
        cell = spaces.Box(0, max(level.width, level.height) - 1, (2,), np.int64)
        self.observation_space = spaces.Dict(
            grid=spaces.Box(0, 255, (level.width, level.height, 3), np.uint8),
            direction=spaces.Discrete(4),
            agent_pos=cell,
            goal_pos=cell,
            mission=env.observation_space["mission"],
        )
        self.goal = np.zeros(2, np.int64)

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.goal = bot_goal(self.env)
        return self._full(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return self._full(obs), reward, terminated, truncated, info

    def _full(self, obs: dict) -> dict:
        return dict(
            grid=obs["image"],
            direction=int(obs["direction"]),
            agent_pos=np.array(self.env.unwrapped.agent_pos, np.int64),
            goal_pos=self.goal.copy(),
            mission=obs["mission"],
        )


def normalized_score(name: str, ret: float) -> float | None:
    """D4RL normalized score (0 = random, 100 = expert) for HalfCheetah; None for BabyAI (use success rate)."""
    spec = get_spec(name)
    if spec.ref_min_score is None:
        return None
    return 100.0 * (ret - spec.ref_min_score) / (spec.ref_max_score - spec.ref_min_score)
