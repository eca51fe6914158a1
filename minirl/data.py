"""Offline datasets: make them (policy rollouts, BabyAI bot demos), store them with Minari, load them as numpy.

Nothing can be downloaded, so minirl makes its own datasets, D4RL-style, and writes them in Minari's format
(namespace `minirl`, e.g. `minirl/halfcheetah-medium-v0`, under `MINARI_DATASETS_PATH` or `~/.minari/datasets`),
so that Minari's own tools can read them too:

    halfcheetah-random         uniform random actions on HalfCheetah-v5 (1M steps, as in D4RL)
    halfcheetah-medium/expert  a SAC behaviour policy shipped in minirl/policies/, stochastic actions
    halfcheetah-medium-replay  the replay buffer of the SAC run that trained the medium policy, cut into episodes
    halfcheetah-medium-expert  medium's episodes followed by expert's
    babyai-<level>             demonstrations of Minigrid's BabyAI bot; `noise` = fraction of random actions;
                               `bot` "omniscient" gives the bot the whole grid (the official LEAP demos)
    babyai-<level>-full        the same demonstrations in the `full` observation mode (`--obs full`): the LEAP
                               paper's input, PRIVILEGED information (whole grid, agent cell, the bot's goal cell)
    pointmaze-<maze>           D4RL's maze2d recipe (planner + waypoint controller, noisy): minirl/pointmaze.py
    pointmaze-<maze>-maze2d    the same stream as D4RL's maze2d-<maze>-sparse: no goal in view, rewards against
                               the fixed evaluation goal (the stitching test of the published maze2d tables)

`load(name)` returns a list of episodes, each a dict of numpy arrays (T steps, T+1 observations):

    HalfCheetah: observations float32 (T+1, 17), actions float32 (T, 6)  (stored as the env emits them: float64)
    BabyAI:      image uint8 (T+1, 7, 7, 3), direction int64 (T+1,), mission str, actions int64 (T,)
    BabyAI full: grid uint8 (T+1, W, H, 3) instead of image, plus agent_pos and goal_pos int64 (T+1, 2)
                 (envs.FullObservation); the mode is also recorded in the Minari metadata (`minirl.obs`)
    PointMaze:   observations float32 (T+1, 6) = [x, y, vx, vy, goal_x, goal_y], actions float32 (T, 2)
                 (stored in Minari's layout: observation / achieved_goal / desired_goal, see pointmaze.py);
                 -maze2d: observations float32 (T+1, 4) = [x, y, vx, vy], stored as one array like D4RL's
    both:        rewards float32 (T,), terminations bool (T,), truncations bool (T,)

Datasets are written atomically (built in a hidden staging folder, renamed into place when complete), so an
interrupted `collect` never leaves anything that `load` accepts, and the next `collect` deletes the staging folder
a killed one left; `--overwrite` exchanges the old and new folders in one step, so one of them is always in place.
`load` refuses NaN or infinite observations, actions and rewards; `remove` deletes only a dataset's own folder
inside the datasets root. Writing goes through
`minari.create_dataset_from_buffers`, not Minari's DataCollector, because the collector needs jax.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import re
import shutil
import string
import tempfile
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import gymnasium as gym
import minari
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import WrapperSpec
from minari.data_collector import EpisodeBuffer
from minari.namespace import create_namespace
from minari.storage import get_dataset_path
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from minirl import envs

HALFCHEETAH_LEVELS = ["random", "medium", "expert", "medium-replay", "medium-expert"]
BABYAI_LEVELS = [name for name in envs.ENVS if name.startswith("babyai-")]
DATASETS: list[str] = [f"halfcheetah-{level}" for level in HALFCHEETAH_LEVELS] + BABYAI_LEVELS
DATASETS += [level + envs.FULL_SUFFIX for level in BABYAI_LEVELS]  # the `full` observation mode
# D4RL's maze2d recipe on Gymnasium-Robotics' PointMaze (minirl/pointmaze.py), 1M steps per maze as in D4RL
DATASETS += [name for name in envs.ENVS if name.startswith("pointmaze-")]
DEFAULT_POINTMAZE_STEPS = 1_000_000
NAMESPACE = "minirl"
# + pid + random: a dataset being built, hidden from Minari's listing
STAGING_PREFIX = ".minirl-staging-"
VERSION = 0
POLICY_DIR = Path(__file__).parent / "policies"  # the shipped behaviour policies and replay buffer
CACHE_FILE = "minirl_cache.npz"  # decoded arrays, next to Minari's data/ folder

DEFAULT_HALFCHEETAH_STEPS = 1_000_000  # D4RL's size for every HalfCheetah level
DEFAULT_BABYAI_EPISODES = 1000  # Minari's HDF5 costs ~28 KB per BabyAI episode
# HalfCheetah envs stepped together, so the policy runs one batched forward pass per step
N_ENVS = 10

# per-observation arrays: T+1 rows (the others have T), with the dtype load() gives BabyAI's
OBS_KEYS = ("observations", "image", "direction", "grid", "agent_pos", "goal_pos")
BABYAI_DTYPES = dict(
    image=np.uint8, grid=np.uint8, direction=np.int64, agent_pos=np.int64, goal_pos=np.int64
)

# Minigrid's MissionSpace cannot be serialized, so BabyAI datasets declare the observation space themselves.
MISSION_CHARSET = string.ascii_lowercase + string.digits + " ,"
BABYAI_OBSERVATION_SPACE = spaces.Dict(
    image=spaces.Box(0, 255, (7, 7, 3), np.uint8),
    direction=spaces.Discrete(4),
    mission=spaces.Text(max_length=200, charset=MISSION_CHARSET),
)
# HalfCheetah is stored as HalfCheetah-v5 emits it (float64), so the dataset's observation_space contains what
# `dataset.recover_environment()` returns; load() hands the models float32.
HALFCHEETAH_OBSERVATION_SPACE = spaces.Box(-np.inf, np.inf, (17,), np.float64)

DESCRIPTIONS = {
    "random": "HalfCheetah-v5, uniform random actions (D4RL-style 'random').",
    "medium": "HalfCheetah-v5, stochastic actions of a partially trained SAC policy.",
    "expert": "HalfCheetah-v5, stochastic actions of a fully trained SAC policy.",
    "medium-replay": "HalfCheetah-v5, the replay buffer of the SAC run up to the medium policy, cut into episodes.",
    "medium-expert": "HalfCheetah-v5, the episodes of halfcheetah-medium followed by those of halfcheetah-expert.",
    "babyai": "{gym_id}, demonstrations of Minigrid's BabyAIBot; a fraction {noise} of steps take a random action.",
    "babyai-omniscient": " The bot knows the whole grid from the first step (the official BabyAI and LEAP demos' "
    "full_obs_replan) and walks a shortest path; missions naming more than one object were skipped.",
    "babyai-full": " Observation mode 'full' (the LEAP paper's input), PRIVILEGED information: the whole grid, the "
    "agent's cell and the cell of the goal the BabyAI bot computes (minirl.envs.FullObservation).",
}


# str -> np.ndarray (and `mission`: str); see the module docstring for keys and shapes
Episode = dict


# ---------------------------------------------------------------------------------------------------------------
# Names and paths
# ---------------------------------------------------------------------------------------------------------------


def _unknown(name: str) -> envs.UnknownNameError:
    return envs.UnknownNameError(
        f"unknown dataset '{name}'; valid: {', '.join(DATASETS)}, or a Minari id such as mujoco/halfcheetah/medium-v0"
    )


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise _unknown(name)


def env_of(name: str) -> str:
    """The env short name a dataset belongs to: `halfcheetah-medium` -> `halfcheetah`, `babyai-gotolocal` -> itself.

    Minari hub ids are matched by their env name (`mujoco/halfcheetah/medium-v0` -> `halfcheetah`,
    `minigrid/BabyAI-GoToLocal/optimal-v0` -> `babyai-gotolocal`)."""
    if name in DATASETS:
        return "halfcheetah" if name.startswith("halfcheetah-") else envs.get_spec(name).name
    if "/" in name:
        for short in envs.ENVS:
            if short in name.lower():
                return short
    raise _unknown(name)


def obs_of(name: str) -> str | None:
    """The observation mode of a minirl BabyAI dataset name (`babyai-gotolocal-full` -> `full`); None otherwise."""
    if not name.startswith("babyai-"):
        return None
    return "full" if name.endswith(envs.FULL_SUFFIX) else "egocentric"


def dataset_name(name: str, obs: str | None) -> str:
    """The dataset `minirl data collect NAME --obs OBS` makes: `babyai-gotolocal` + full -> `babyai-gotolocal-full`.

    obs None keeps the name (its own mode); a mode that contradicts the name, or one given for a dataset that is
    not BabyAI, raises ValueError."""
    if obs is None:
        return name
    if obs not in envs.OBS_MODES:
        raise ValueError(f"unknown observation mode '{obs}'; valid: {', '.join(envs.OBS_MODES)}")
    if not name.startswith("babyai-"):
        raise ValueError(f"--obs is for BabyAI datasets, not '{name}'")
    level = name.removesuffix(envs.FULL_SUFFIX)
    if obs == "egocentric" and name != level:
        raise ValueError(
            f"'{name}' is a full-observation dataset; for --obs egocentric name it {level}"
        )
    return level + envs.FULL_SUFFIX if obs == "full" else level


def _minari_id(name: str) -> str:
    return f"{NAMESPACE}/{name}-v{VERSION}"


def dataset_path(name: str) -> Path:
    """Where a dataset lives on disk (Minari's folder holding `data/`); a Minari id maps to its own folder."""
    if "/" not in name:
        _check_name(name)
        name = _minari_id(name)
    return get_dataset_path(name)


def _is_complete(path: Path) -> bool:
    # Minari writes metadata.json when the dataset is created; our staging + rename makes its presence mean "done".
    return (path / "data" / "metadata.json").exists()


# ---------------------------------------------------------------------------------------------------------------
# Collection: HalfCheetah
# ---------------------------------------------------------------------------------------------------------------


def _episode_lengths(
    episodes: int | None, steps: int | None, max_steps: int, default_steps: int
) -> list[int]:
    """Full-length episodes until `steps` is reached; a remainder becomes one shorter (truncated) episode."""
    if episodes is not None:
        return [max_steps] * episodes
    steps = default_steps if steps is None else steps
    return [max_steps] * (steps // max_steps) + ([steps % max_steps] if steps % max_steps else [])


@contextlib.contextmanager
def _torch_for_rollout(seed: int) -> Iterator[None]:
    """The actor samples from torch's global generator: seed it, but leave the caller's generator untouched.
    One thread: a (10, 17) batch through a 256-wide MLP is too small to split, and thread hand-offs made each
    step ~30x slower when another process keeps a core busy."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(threads)


def _load_policy(level: str, policy_dir: str | Path | None):
    """The shipped SAC behaviour policy `halfcheetah-<level>.pt` (state dict of baselines.sac.Actor) and its card."""
    import torch  # imported here: listing or loading datasets should not pay for torch

    from minirl.baselines.sac import Actor

    directory = Path(policy_dir or os.environ.get("MINIRL_POLICY_DIR") or POLICY_DIR)
    path = directory / f"halfcheetah-{level}.pt"
    if not path.exists():
        raise FileNotFoundError(
            f"behaviour policy {path} not found (set MINIRL_POLICY_DIR to a folder that has it)"
        )
    state = torch.load(path, map_location="cpu", weights_only=True)
    spec = envs.ENVS["halfcheetah"]
    hidden = state["trunk.0.weight"].shape[0]
    # HalfCheetah's action box is [-1, 1]^6
    actor = Actor(spec.obs_dim, spec.act_dim, hidden, -1.0, 1.0)
    actor.load_state_dict(state)
    actor.eval()
    card_path = path.with_suffix(".json")
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    return actor, card


def _rollout_halfcheetah(
    lengths: list[int], seed: int, noise: float, actor, advance: Callable[[int], None]
):
    """Rolls out `actor` (None: uniform random actions) for one episode per entry of `lengths`.

    N_ENVS envs run in lockstep so the actor sees a batch (N, 17) per step. Each episode resets with its own seed,
    drawn from `seed`, and records it, so every episode can be replayed alone. Returns (episodes, episode_seeds)."""
    rng = np.random.default_rng(seed)
    episode_seeds = [int(s) for s in rng.integers(0, 2**31 - 1, len(lengths))]
    n_envs = min(N_ENVS, len(lengths))
    with envs.quiet():
        env_list = [envs.make_env("halfcheetah") for _ in range(n_envs)]
    low, high = env_list[0].action_space.low, env_list[0].action_space.high
    episodes = []
    with _torch_for_rollout(seed) if actor is not None else contextlib.nullcontext():
        for start in range(0, len(lengths), n_envs):
            chunk = lengths[start : start + n_envs]
            k, horizon = len(chunk), max(chunk)
            obs = np.stack(
                [env.reset(seed=s)[0] for env, s in zip(env_list, episode_seeds[start : start + k])]
            )
            # (T+1, k, 17), as the env emits them
            observations = np.zeros((horizon + 1, k, 17), np.float64)
            actions = np.zeros((horizon, k, 6), np.float32)  # (T, k, 6)
            rewards = np.zeros((horizon, k), np.float32)
            terminations = np.zeros((horizon, k), bool)
            truncations = np.zeros((horizon, k), bool)
            observations[0] = obs
            # an episode ends at its length or when its env says so, whichever is first
            ends = np.array(chunk)
            for t in range(horizon):
                stepping = np.flatnonzero(t < ends)
                if actor is None:
                    action = rng.uniform(low, high, (k, 6)).astype(np.float32)
                else:
                    # (k, 6), sampled: stochastic as in D4RL
                    action = actor.act(obs).astype(np.float32)
                    if noise > 0:
                        replace = rng.random(k) < noise
                        action[replace] = rng.uniform(low, high, (int(replace.sum()), 6))
                for i in stepping:
                    obs[i], rewards[t, i], terminations[t, i], truncations[t, i], _ = env_list[
                        i
                    ].step(action[i])
                    actions[t, i] = action[i]
                    observations[t + 1, i] = obs[i]
                    if terminations[t, i] or truncations[t, i]:
                        ends[i] = t + 1
                advance(len(stepping))
            for i in range(k):
                T = ends[i]
                # cut short by the step budget: a time limit
                truncations[T - 1, i] |= not terminations[T - 1, i]
                episodes.append(
                    dict(
                        observations=observations[: T + 1, i].copy(),
                        actions=actions[:T, i].copy(),
                        rewards=rewards[:T, i].copy(),
                        terminations=terminations[:T, i].copy(),
                        truncations=truncations[:T, i].copy(),
                    )
                )
    for env in env_list:
        env.close()
    return episodes, episode_seeds


def _replay_episodes(path: Path) -> list[Episode]:
    """Cuts a SAC replay buffer (rows in insertion order; keys obs, actions, rewards, next_obs, terminations,
    truncations, optional env_index) into episodes, which end where terminations | truncations is true.

    Gymnasium's vector envs reset one step *after* an episode ends (autoreset NEXT_STEP): that step ignores the
    action, returns reward 0 and the new first observation. Its row starts with the previous episode's last
    observation; such rows are not transitions of any episode, so they are dropped."""
    if not path.exists():
        raise FileNotFoundError(
            f"replay buffer {path} not found (set MINIRL_POLICY_DIR to a folder that has it)"
        )
    with np.load(path) as buffer:
        rows = {key: buffer[key] for key in buffer.files}
    obs, next_obs = rows["obs"].astype(np.float32), rows["next_obs"].astype(np.float32)
    done = rows["terminations"].astype(bool) | rows["truncations"].astype(bool)
    env_index = rows.get("env_index", np.zeros(len(obs), np.int64))
    episodes = []
    for env_id in np.unique(env_index):
        env_rows = np.flatnonzero(env_index == env_id)  # this env's rows, still in insertion order
        ends = list(np.flatnonzero(done[env_rows]) + 1)
        if not ends or ends[-1] != len(env_rows):
            ends.append(len(env_rows))  # a trailing unfinished episode is kept, marked truncated
        start = 0
        for end in ends:
            idx = env_rows[start:end]
            previous = env_rows[start - 1] if start > 0 else None
            if (
                previous is not None
                and np.array_equal(obs[idx[0]], next_obs[previous])
                and not done[idx[0]]
            ):
                idx = idx[1:]  # the autoreset row described above
            start = end
            if len(idx) == 0:
                continue
            truncations = rows["truncations"][idx].astype(bool)
            terminations = rows["terminations"][idx].astype(bool)
            truncations[-1] |= not terminations[-1]
            episodes.append(
                dict(
                    observations=np.concatenate([obs[idx], next_obs[idx[-1:]]]),  # (T+1, 17)
                    actions=rows["actions"][idx].astype(np.float32),
                    rewards=rows["rewards"][idx].astype(np.float32),
                    terminations=terminations,
                    truncations=truncations,
                )
            )
    return episodes


def _first(episode_list: list[Episode], episodes: int | None, steps: int | None) -> list[Episode]:
    """The first `episodes` episodes, or the fewest leading episodes holding at least `steps` steps."""
    if episodes is not None:
        return episode_list[:episodes]
    if steps is not None:
        total = np.cumsum([len(ep["rewards"]) for ep in episode_list])
        return episode_list[: int(np.searchsorted(total, steps)) + 1]
    return episode_list


# ---------------------------------------------------------------------------------------------------------------
# Collection: BabyAI
# ---------------------------------------------------------------------------------------------------------------


BOTS = ("minigrid", "omniscient")  # who makes BabyAI demonstrations: `_bot_class`


@functools.cache
def _bot_class(kind: str) -> type:
    """Minigrid's BabyAI bot, which maps only the cells its 7x7 view has shown and so explores until it sees its
    target ("minigrid"), or the same bot with the whole grid in its map from the first step ("omniscient"): the
    official BabyAI and LEAP demonstrations (babyai's `full_obs_replan`), which walk a shortest path to the target."""
    from minigrid.utils.baby_ai_bot import BabyAIBot

    if kind == "minigrid":
        return BabyAIBot

    class OmniscientBot(BabyAIBot):
        def _process_obs(self):
            self.vis_mask[:] = True  # every cell is known, whatever the view shows

    return OmniscientBot


def _bot_suggestion(bot, env: gym.Env, action_taken: int | None, bot_class: type):
    """Asks the bot for an action; returns (bot, action), action None when no plan exists from here.

    `action_taken` is None when the bot's last suggestion was executed, else the (random) action that was: passing
    the bot's own suggestion back would make it plan to undo it. After random actions the bot's plan can break
    (it raises); a fresh bot then plans from the current state. Some states have no plan at all (a random `toggle`
    opened the box holding the target): the caller then acts randomly and asks again next step."""
    if bot is not None:
        try:
            return bot, bot.replan(action_taken)
        except Exception:
            pass
    try:
        bot = bot_class(env.unwrapped)
        return bot, bot.replan()
    except Exception:
        return None, None


def _rollout_babyai(
    name: str,
    episodes: int | None,
    steps: int | None,
    seed: int,
    noise: float,
    advance: Callable[[int], None],
    bot_kind: str = "minigrid",
):
    """Bot demonstrations; each episode resets with its own seed drawn from `seed`. Returns (episodes, seeds).
    bot_kind "omniscient" (the official LEAP demos) also keeps only missions that name one object: an ambiguous
    one ("go to a ball" with two balls) is skipped and the next seed drawn, as make_agent_demos.py re-draws it."""
    rng = np.random.default_rng(seed)
    env = envs.make_env(name, obs=obs_of(name))
    n_actions = int(env.action_space.n)
    bot_class = _bot_class(bot_kind)
    result, episode_seeds, total_steps = [], [], 0
    while len(result) < episodes if steps is None else total_steps < steps:
        episode_seed = int(rng.integers(0, 2**31 - 1))
        with envs.quiet():  # level generation prints "Sampling rejected" when it retries
            obs, _ = env.reset(seed=episode_seed)
        if bot_kind == "omniscient" and len(envs.bot_targets(env)) != 1:
            continue
        # the bot must be created after every reset
        bot, action_taken = bot_class(env.unwrapped), None
        # every array of the observation, per step: image, direction (full mode: grid, agent_pos, goal_pos too)
        frames = {key: [value] for key, value in obs.items() if key != "mission"}
        actions, rewards, terminations, truncations = [], [], [], []
        while True:
            bot, suggestion = _bot_suggestion(bot, env, action_taken, bot_class)
            if suggestion is None or rng.random() < noise:
                action = int(rng.integers(n_actions))
                action_taken = None if action == suggestion else action
            else:
                action, action_taken = int(suggestion), None
            obs, reward, terminated, truncated, _ = env.step(action)
            for key in frames:
                frames[key].append(obs[key])
            actions.append(action)
            rewards.append(reward)
            terminations.append(terminated)
            truncations.append(truncated)
            if terminated or truncated:
                break
        result.append(
            dict(
                **{key: np.stack(v).astype(BABYAI_DTYPES[key]) for key, v in frames.items()},
                mission=str(obs["mission"]),
                actions=np.array(actions, np.int64),
                rewards=np.array(rewards, np.float32),
                terminations=np.array(terminations, bool),
                truncations=np.array(truncations, bool),
            )
        )
        episode_seeds.append(episode_seed)
        total_steps += len(actions)
        advance(1 if steps is None else len(actions))
    env.close()
    return result, episode_seeds


# ---------------------------------------------------------------------------------------------------------------
# Writing (atomic) and collect()
# ---------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def datasets_root(path: str | Path | None) -> Iterator[None]:
    """Points Minari (and `load`/`collect`) at another datasets folder for the duration of a `with` block: collect
    builds a dataset under its real id inside a staging folder this way, and `minirl analyze --data-dir` reads a
    held-out copy of a run's dataset. None: leaves the folder as it is."""
    if path is None:
        yield
        return
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield
    finally:
        if old is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def _to_buffer(episode: Episode, episode_id: int, seed: int | None) -> EpisodeBuffer:
    if "mission" in episode:  # BabyAI: Minari stores dict observations as one dataset per key
        T1 = len(episode["direction"])
        observations = {key: episode[key] for key in BABYAI_DTYPES if key in episode}
        observations["mission"] = [episode["mission"]] * T1
    elif "desired_goal" in episode:  # PointMaze: Minari's goal-aware layout, one dataset per key
        observations = {
            key: episode[key] for key in ("observation", "achieved_goal", "desired_goal")
        }
    else:
        # the space's dtype (a SAC buffer holds float32)
        observations = episode["observations"].astype(np.float64)
    return EpisodeBuffer(
        id=episode_id,
        seed=seed,
        observations=observations,
        actions=episode["actions"],
        rewards=episode["rewards"],
        terminations=episode["terminations"],
        truncations=episode["truncations"],
        infos={},  # we record no infos, but Minari's EpisodeData expects a dict
    )


def _requirements(discrete: bool, more: tuple[str, ...] = ()) -> list[str]:
    """The packages (pinned to the versions that wrote the dataset) Minari needs to recover its environments."""
    from importlib.metadata import PackageNotFoundError, version

    packages = (
        ["minirl", "gymnasium", "minigrid"] if discrete else ["minirl", "gymnasium", "mujoco"]
    ) + list(more)
    pinned = []
    for package in packages:
        with contextlib.suppress(PackageNotFoundError):
            pinned.append(f"{package}=={version(package)}")
    return pinned


def _code_permalink() -> str:
    """Where the writing code lives: minirl's git commit when run from a checkout (there is no public URL)."""
    import subprocess

    here = Path(__file__).resolve().parent
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        if commit:
            return f"minirl git {commit}: minirl/data.py"
    return "minirl: minirl/data.py"


def _write(
    name: str,
    episode_list: list[Episode],
    seeds: list[int] | None,
    algorithm_name: str,
    description: str,
    extra: dict,
    overwrite: bool,
) -> Path:
    """Writes a Minari dataset atomically: build it in a hidden staging folder under the datasets root (Minari's
    listing skips dot-folders), then rename it into place; an existing dataset is swapped out only at that end."""
    final = dataset_path(name)
    spec = envs.get_spec(name)
    # absolute: Minari joins the datasets path it is pointed at onto the staging path, so a relative one doubles
    root = Path(get_dataset_path()).resolve()
    # same filesystem: rename is atomic; the pid in the name lets a later collect remove it if this one is killed
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=root))
    try:
        buffers = [
            _to_buffer(ep, i, None if seeds is None else seeds[i])
            for i, ep in enumerate(episode_list)
        ]
        scores = {}
        # stored so minari.get_normalized_score works on HalfCheetah datasets
        if spec.ref_min_score is not None:
            scores = dict(ref_min_score=spec.ref_min_score, ref_max_score=spec.ref_max_score)
        fields = dict(
            env=spec.gym_id,
            eval_env=spec.gym_id,
            observation_space=BABYAI_OBSERVATION_SPACE
            if spec.discrete
            else HALFCHEETAH_OBSERVATION_SPACE,
            requirements=_requirements(spec.discrete),
            **scores,
        )
        if spec.discrete:
            fields.update(_babyai_fields(name))
        if name.startswith("pointmaze-"):  # env specs with the maze2d task's kwargs, the dict space
            from minirl import pointmaze

            fields.update(pointmaze.minari_fields(name))
            fields["requirements"] = _requirements(False, ("gymnasium_robotics",))
        with datasets_root(staging), envs.quiet(), warnings.catch_warnings():
            # no stable URL or e-mail to record; Minari warns about each missing field
            warnings.filterwarnings("ignore", message=r"`author_email` is set to None")
            create_namespace(NAMESPACE, description="minirl's own datasets (minirl data collect)")
            dataset = minari.create_dataset_from_buffers(
                _minari_id(name),
                buffers,
                algorithm_name=algorithm_name,
                author="minirl",
                description=description,
                code_permalink=_code_permalink(),
                jpeg_encoding=False,  # lossless: JPEG would alter observation arrays
                **fields,
            )
            dataset.storage.update_metadata({"minirl": extra})
        built = staging / _minari_id(name)
        final.parent.mkdir(parents=True, exist_ok=True)
        # marks `minirl` as a namespace for Minari
        namespace_file = final.parent / "namespace_metadata.json"
        if not namespace_file.exists():
            os.replace(built.parent / "namespace_metadata.json", namespace_file)
        if final.exists():
            if not overwrite:
                raise _exists(name)
            _swap(built, final)  # the old dataset now sits in staging, deleted below
        else:
            os.replace(built, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _babyai_fields(name: str) -> dict:
    """Minari's env spec and observation space for a BabyAI dataset: the level's gym kwargs (the LEAP paper's
    mazes open their doors) and, in full mode, the FullObservation wrapper, so recover_environment() makes the env
    the data came from."""
    spec = envs.get_spec(name)
    registered = gym.spec(spec.gym_id)
    env_spec = dataclasses.replace(registered, kwargs=dict(registered.kwargs, **spec.gym_kwargs))
    if obs_of(name) != "full":
        return dict(env=env_spec, eval_env=env_spec)
    wrapper = WrapperSpec("FullObservation", "minirl.envs:FullObservation", {})
    env_spec = dataclasses.replace(env_spec, additional_wrappers=(wrapper,))
    space = envs.make_env(name, obs="full").observation_space
    observation_space = spaces.Dict(
        {**space.spaces, "mission": BABYAI_OBSERVATION_SPACE["mission"]}
    )
    return dict(env=env_spec, eval_env=env_spec, observation_space=observation_space)


def _exists(name: str) -> FileExistsError:
    return FileExistsError(
        f"dataset '{name}' already exists; replace it with --overwrite, or delete it with: "
        f"minirl data remove {name}"
    )


def _swap(new: Path, old: Path) -> None:
    """Puts folder `new` at `old`'s place and `old` at `new`'s, in one atomic step where the OS offers one (Linux
    renameat2 RENAME_EXCHANGE), so the old dataset stays readable until the new one is in place. Elsewhere two
    renames, with the old one put back if the second fails."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        at_fdcwd, rename_exchange = -100, 2
        if (
            libc.renameat2(at_fdcwd, os.fsencode(new), at_fdcwd, os.fsencode(old), rename_exchange)
            == 0
        ):
            return
    except (AttributeError, OSError):  # no renameat2 in this libc
        pass
    aside = new.with_name(new.name + ".replaced")
    os.replace(old, aside)
    try:
        os.replace(new, old)
    except BaseException:
        os.replace(aside, old)
        raise
    os.replace(aside, new)


def _remove_stale_staging(root: Path) -> None:
    """Deletes staging folders that a killed collect left in the datasets root (their process no longer runs)."""
    for path in root.glob(f"{STAGING_PREFIX}*"):
        pid = path.name.removeprefix(STAGING_PREFIX).split("-", 1)[0]
        if path.is_symlink() or not path.is_dir() or (pid.isdigit() and _alive(int(pid))):
            continue
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _progress_bar(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not enabled,
    )


def collect(
    name: str,
    episodes: int | None = None,
    steps: int | None = None,
    seed: int = 0,
    noise: float = 0.0,
    progress: bool = True,
    overwrite: bool = False,
    policy_dir: str | Path | None = None,
    bot: str = "minigrid",
) -> Path:
    """Makes dataset `name` and writes it with Minari; returns its folder. Same arguments -> identical arrays.

    episodes / steps: size (at most one). Defaults: 1M steps (HalfCheetah), 1000 episodes (BabyAI).
    noise: fraction of steps where a uniformly random action replaces the behaviour's (bot or policy).
    bot: BabyAI's demonstrator, one of BOTS (`_bot_class`); recorded in the metadata, not in the name.
    policy_dir: folder with halfcheetah-{medium,expert}.pt and halfcheetah-medium-replay.npz; else the env var
    MINIRL_POLICY_DIR, else the shipped minirl/policies/.
    medium-expert reuses halfcheetah-medium / -expert if they exist, else collects them with the same arguments.
    Raises FileExistsError if the dataset exists and not overwrite (it is replaced only once the new one is done),
    FileNotFoundError if a behaviour policy or replay buffer is missing."""
    _check_name(name)
    if episodes is not None and steps is not None:
        raise ValueError("give episodes or steps, not both")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise must be in [0, 1], got {noise}")
    if bot not in BOTS:
        raise ValueError(f"unknown bot '{bot}'; valid: {', '.join(BOTS)}")
    if bot != "minigrid" and not name.startswith("babyai-"):
        raise ValueError(f"--bot is for BabyAI datasets, not '{name}'")
    if (episodes is not None and episodes < 1) or (steps is not None and steps < 1):
        raise ValueError("episodes and steps must be positive")
    if _is_complete(dataset_path(name)) and not overwrite:
        raise _exists(name)
    _remove_stale_staging(get_dataset_path())
    extra = dict(name=name, seed=seed, noise=noise, episodes=episodes, steps=steps)
    if name.startswith("babyai-"):
        extra["obs"] = obs_of(name)  # what training and evaluation must both see
        extra["bot"] = bot
    seeds = None
    with _progress_bar(progress) as bar:
        if name.startswith("pointmaze-"):
            from minirl import pointmaze

            if episodes is not None:
                steps = episodes * envs.get_spec(name).max_steps
            steps = DEFAULT_POINTMAZE_STEPS if steps is None else steps
            task = bar.add_task(f"collect {name}", total=steps)
            episode_list = pointmaze.collect_episodes(
                name, steps, seed, lambda n: bar.advance(task, n)
            )
            algorithm_name = "BFS planner + PD waypoint controller (D4RL maze2d), noisy"
            # Gaussian, D4RL's (`noise` is not used here)
            extra["action_noise_std"] = pointmaze.ACTION_NOISE
            description = pointmaze.DESCRIPTION.format(
                gym_id=envs.get_spec(name).gym_id,
                noise=pointmaze.ACTION_NOISE,
                horizon=envs.get_spec(name).max_steps,
                reward=pointmaze.REWARD_TEXT[pointmaze.is_maze2d(name)],
            )
        elif name.startswith("babyai-"):
            if episodes is None and steps is None:
                episodes = DEFAULT_BABYAI_EPISODES
            task = bar.add_task(f"collect {name}", total=steps if episodes is None else episodes)
            episode_list, seeds = _rollout_babyai(
                name, episodes, steps, seed, noise, lambda n: bar.advance(task, n), bot
            )
            algorithm_name = f"BabyAIBot ({bot}, noise={noise})"
            description = DESCRIPTIONS["babyai"].format(
                gym_id=envs.get_spec(name).gym_id, noise=noise
            )
            description += DESCRIPTIONS["babyai-omniscient"] if bot == "omniscient" else ""
            description += DESCRIPTIONS["babyai-full"] if obs_of(name) == "full" else ""
        else:
            level = name.removeprefix("halfcheetah-")
            description = DESCRIPTIONS[level]
            if level in ("random", "medium", "expert"):
                actor, card = (None, {}) if level == "random" else _load_policy(level, policy_dir)
                lengths = _episode_lengths(
                    episodes, steps, envs.ENVS["halfcheetah"].max_steps, DEFAULT_HALFCHEETAH_STEPS
                )
                task = bar.add_task(f"collect {name}", total=sum(lengths))
                episode_list, seeds = _rollout_halfcheetah(
                    lengths, seed, noise if actor else 0.0, actor, lambda n: bar.advance(task, n)
                )
                algorithm_name = (
                    "uniform random"
                    if actor is None
                    else f"SAC behaviour policy ({level}), sampled"
                )
                extra["policy_card"] = card
            elif level == "medium-replay":
                directory = Path(policy_dir or os.environ.get("MINIRL_POLICY_DIR") or POLICY_DIR)
                episode_list = _first(_replay_episodes(directory / f"{name}.npz"), episodes, steps)
                algorithm_name = "SAC replay buffer"
            else:  # medium-expert: the two datasets' episodes, collecting whichever is missing
                episode_list = []
                for part in ("halfcheetah-medium", "halfcheetah-expert"):
                    if not _is_complete(dataset_path(part)):
                        collect(
                            part,
                            episodes,
                            steps,
                            seed,
                            noise,
                            progress=False,
                            policy_dir=policy_dir,
                        )
                    stored = minari.MinariDataset(dataset_path(part) / "data").iterate_episodes()
                    # as stored, not load()'s float32
                    episode_list += [_from_minari(ep, np.float64) for ep in stored]
                algorithm_name = "SAC behaviour policies (medium + expert), sampled"
        task = bar.add_task(f"write {name} ({len(episode_list)} episodes)", total=1)
        path = _write(name, episode_list, seeds, algorithm_name, description, extra, overwrite)
        bar.advance(task)
    return path


# ---------------------------------------------------------------------------------------------------------------
# Loading (with an .npz cache of the decoded arrays)
# ---------------------------------------------------------------------------------------------------------------


def _from_minari(episode: minari.EpisodeData, obs_dtype=np.float32) -> Episode:
    """One Minari episode -> our numpy dict (BabyAI dict observations become image / direction / mission)."""
    if isinstance(episode.observations, dict) and "desired_goal" in episode.observations:
        from minirl.pointmaze import flat_observation  # PointMaze: the models' flat [state, goal]

        out = dict(observations=flat_observation(episode.observations).astype(obs_dtype))
    elif isinstance(episode.observations, dict):  # BabyAI, either observation mode
        obs = episode.observations
        out = {
            key: np.asarray(obs[key], dtype) for key, dtype in BABYAI_DTYPES.items() if key in obs
        }
        out["mission"] = str(obs["mission"][0])
    else:
        out = dict(observations=np.asarray(episode.observations, obs_dtype))
    actions = np.asarray(episode.actions)
    out["actions"] = actions.astype(
        np.int64 if np.issubdtype(actions.dtype, np.integer) else np.float32
    )
    out["rewards"] = np.asarray(episode.rewards, np.float32)
    out["terminations"] = np.asarray(episode.terminations, bool)
    out["truncations"] = np.asarray(episode.truncations, bool)
    return out


def _save_cache(path: Path, episode_list: list[Episode]) -> None:
    """All episodes concatenated per key plus their lengths: one flat .npz, loadable without pickle."""
    arrays = {"lengths": np.array([len(ep["rewards"]) for ep in episode_list], np.int64)}
    for key in [k for k in episode_list[0] if k != "mission"]:
        arrays[key] = np.concatenate([ep[key] for ep in episode_list])
    if "mission" in episode_list[0]:
        arrays["mission"] = np.array([ep["mission"] for ep in episode_list])
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)  # a reader never sees half a cache


def _read_cache(path: Path) -> list[Episode]:
    with np.load(path, allow_pickle=False) as cache:
        lengths = cache["lengths"]
        # T per episode, T+1 obs
        step_cuts, obs_cuts = np.cumsum(lengths)[:-1], np.cumsum(lengths + 1)[:-1]
        split = {
            key: np.split(cache[key], obs_cuts if key in OBS_KEYS else step_cuts)
            for key in cache.files
            if key not in ("lengths", "mission")
        }
        missions = [str(m) for m in cache["mission"]] if "mission" in cache.files else None
    episode_list = [{key: parts[i] for key, parts in split.items()} for i in range(len(lengths))]
    for i, ep in enumerate(episode_list):
        if missions is not None:
            ep["mission"] = missions[i]
    return episode_list


def load(name: str) -> list[Episode]:
    """Episodes of dataset `name` as numpy dicts (keys and shapes in the module docstring).

    A minirl name must have been collected (FileNotFoundError says how); a name with '/' is a Minari id, downloaded
    by Minari if it is not local (the only case that touches the network). Decoded arrays are cached next to
    the dataset and rebuilt when the dataset is newer than the cache."""
    if "/" in name:
        path = Path(minari.load_dataset(name, download=True).spec.data_path).parent
    else:
        path = dataset_path(name)
        if not _is_complete(path):
            raise FileNotFoundError(
                f"dataset '{name}' not found; make it with: minirl data collect {name}"
            )
    cache = path / CACHE_FILE
    newest_data = max(f.stat().st_mtime for f in (path / "data").iterdir())
    episode_list = None
    if cache.exists() and cache.stat().st_mtime >= newest_data:
        # unreadable: decode again
        with contextlib.suppress(OSError, ValueError, KeyError, zipfile.BadZipFile):
            episode_list = _read_cache(cache)
    if episode_list is not None:
        return _check_finite(name, episode_list)
    episode_list = [
        _from_minari(ep) for ep in minari.MinariDataset(path / "data").iterate_episodes()
    ]
    _check_finite(name, episode_list)
    if episode_list:
        # a read-only datasets folder still loads, just without the cache
        with contextlib.suppress(OSError):
            _save_cache(cache, episode_list)
    return episode_list


class NonFiniteDataError(ValueError):
    """A dataset holds NaN or infinite observations, actions or rewards."""


def _check_finite(name: str, episode_list: list[Episode]) -> list[Episode]:
    """Raises NonFiniteDataError naming the dataset, episode, array and step of the first NaN or infinity: every
    model would otherwise train on it silently (TT's bins and normalizer) or stop with a NaN loss."""
    for i, episode in enumerate(episode_list):
        for key in ("observations", "actions", "rewards"):
            values = episode.get(key)
            if values is None or not np.issubdtype(values.dtype, np.floating):
                continue
            # (T,) or (T+1,): a row holds NaN/inf
            bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
            if bad.any():
                fix = (
                    f"; re-collect it: minirl data collect {name} --overwrite"
                    if name in DATASETS
                    else ""
                )
                raise NonFiniteDataError(
                    f"dataset '{name}' episode {i}: {key} at step {int(np.argmax(bad))} "
                    f"are not finite (NaN or inf){fix}"
                )
    return episode_list


def ensure(name: str, progress: bool = True) -> list[Episode]:
    """load(name), first collecting the default-size dataset if a minirl dataset is missing."""
    if "/" not in name:
        _check_name(name)
        if not _is_complete(dataset_path(name)):
            collect(name, progress=progress)
    return load(name)


# ---------------------------------------------------------------------------------------------------------------
# Inspecting and removing
# ---------------------------------------------------------------------------------------------------------------


def info(name: str) -> dict:
    """Summary of a dataset: sizes, return statistics, D4RL normalized score of the mean return (HalfCheetah),
    success rate = fraction of episodes with reward > 0 (BabyAI), mean episode length."""
    env = env_of(name)
    episode_list = load(name)
    returns = np.array([ep["rewards"].sum() for ep in episode_list], np.float64)
    lengths = np.array([len(ep["rewards"]) for ep in episode_list])
    discrete = envs.ENVS[env].discrete
    return dict(
        name=name,
        env=env,
        path=str(dataset_path(name)),
        episodes=len(episode_list),
        transitions=int(lengths.sum()),
        return_mean=float(returns.mean()),
        return_std=float(returns.std()),
        return_min=float(returns.min()),
        return_max=float(returns.max()),
        normalized_score=envs.normalized_score(env, float(returns.mean())),
        success_rate=float((returns > 0).mean()) if discrete else None,
        episode_length_mean=float(lengths.mean()),
        obs=obs_of(name) if discrete else None,
        # who made the demonstrations (datasets from before `--bot` have no record: Minigrid's bot made them)
        bot=_recorded(name).get("bot", "minigrid") if discrete else None,
    )


def _recorded(name: str) -> dict:
    """What `collect` recorded in a dataset's Minari metadata under "minirl" (name, seed, noise, obs, bot, ...)."""
    return minari.MinariDataset(dataset_path(name) / "data").storage.metadata.get("minirl", {})


def list_datasets() -> list[dict]:
    """The minirl datasets on disk: name, episodes, transitions, path (complete datasets only)."""
    rows = []
    for name in DATASETS:
        path = dataset_path(name)
        if _is_complete(path):
            metadata = json.loads((path / "data" / "metadata.json").read_text())
            rows.append(
                dict(
                    name=name,
                    episodes=metadata.get("total_episodes"),
                    transitions=metadata.get("total_steps"),
                    path=str(path),
                )
            )
    return rows


# namespace/name-vN
MINARI_ID = re.compile(r"(?:[A-Za-z0-9_][A-Za-z0-9_.-]*/)+[A-Za-z0-9_][A-Za-z0-9_.-]*-v\d+")


def remove(name: str) -> None:
    """Deletes a dataset (a minirl name or a local Minari id such as mujoco/halfcheetah/medium-v0) and its cache.

    Only a folder that is that dataset, at its own place inside the datasets root, is ever deleted: a name that is
    not a dataset name (`../x`, `/abs`, `.`, `minirl/`), a path through a symbolic link, or a folder that is not the
    Minari dataset of that id is refused with a ValueError and nothing is removed."""
    if "/" not in name:
        # UnknownNameError listing the valid names ('.', '..' and the like included)
        _check_name(name)
    elif not MINARI_ID.fullmatch(name):
        raise ValueError(
            f"refusing to remove '{name}': not a dataset name (minirl names such as babyai-gotolocal, "
            "or a Minari id such as mujoco/halfcheetah/medium-v0); nothing removed"
        )
    dataset_id = _minari_id(name) if name in DATASETS else name
    root = get_dataset_path()
    path = root / dataset_id
    if not path.exists() and not path.is_symlink():
        raise FileNotFoundError(f"dataset '{name}' not found at {path}")
    between = [root / part for part in Path(dataset_id).parents if part != Path(".")]
    for part in [path, *between]:  # the folder itself and every folder between it and the root
        if part.is_symlink():
            raise ValueError(
                f"refusing to remove '{name}': {part} is a symbolic link; nothing removed"
            )
    metadata = path / "data" / "metadata.json"
    try:
        recorded = (
            json.loads(metadata.read_text()).get("dataset_id") if metadata.is_file() else None
        )
    except (OSError, ValueError, AttributeError):
        recorded = None
    if recorded != dataset_id or not path.resolve().is_relative_to(root.resolve()):
        raise ValueError(
            f"refusing to remove '{name}': {path} is not the Minari dataset {dataset_id}; "
            "nothing removed"
        )
    shutil.rmtree(path)
