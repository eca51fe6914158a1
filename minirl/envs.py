"""The environments minirl knows: short names -> Gymnasium ids and the facts the models need.

`halfcheetah` is Gymnasium's MuJoCo HalfCheetah-v5 (dense reward, 1000-step episodes). The `babyai-*` levels are
Minigrid's BabyAI (sparse reward: 1 - 0.9 * steps/max_steps on success, else 0). Normalized scores use D4RL's
reference returns for HalfCheetah, so numbers read like the papers': 100 * (R - random) / (expert - random).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import gymnasium as gym


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
}
# PointMaze (Gymnasium-Robotics; minirl/pointmaze.py): observation [x, y, vx, vy, goal_x, goal_y], D4RL's horizons
# and its maze2d-{umaze,medium,large}-v1 sparse reference returns (d4rl/infos.py REF_MIN_SCORE / REF_MAX_SCORE,
# also in d4rl/pointmaze/__init__.py), so normalized scores read like the maze2d tables.
ENVS.update(
    {
        f"pointmaze-{maze}": EnvSpec(f"pointmaze-{maze}", gym_id, False, 6, 2, steps, low, high)
        for maze, gym_id, steps, low, high in [
            ("umaze", "PointMaze_UMaze-v3", 300, 23.85, 161.86),
            ("medium", "PointMaze_Medium-v3", 600, 13.13, 277.39),
            ("large", "PointMaze_Large-v3", 800, 6.7, 273.99),
        ]
    }
)


class UnknownNameError(ValueError):
    """A name (env, dataset, algorithm) that minirl does not know; the message is one line listing valid ones."""


def get_spec(name: str) -> EnvSpec:
    """Env spec for a short env name or a dataset name such as `halfcheetah-medium` / `babyai-gotolocal`."""
    if name in ENVS:
        return ENVS[name]
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


def make_env(name: str, **kwargs) -> gym.Env:
    """A fresh Gymnasium env for a short name (or dataset name); BabyAI imports register its ids."""
    spec = get_spec(name)
    if spec.discrete:
        import minigrid  # noqa: F401  (registers the BabyAI ids)
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
        return gym.vector.SyncVectorEnv([lambda: gym.make(spec.gym_id) for _ in range(n)])


def normalized_score(name: str, ret: float) -> float | None:
    """D4RL normalized score (0 = random, 100 = expert) for HalfCheetah; None for BabyAI (use success rate)."""
    spec = get_spec(name)
    if spec.ref_min_score is None:
        return None
    return 100.0 * (ret - spec.ref_min_score) / (spec.ref_max_score - spec.ref_min_score)
