"""minirl.data: collect tiny real datasets (HalfCheetah, BabyAI), write them with Minari, load them back.

Every test gets its own empty Minari datasets folder (MINARI_DATASETS_PATH -> tmp_path); sizes are tiny
(at most 2000 HalfCheetah steps, 20 BabyAI episodes) so the file runs in seconds on one core.
"""

from __future__ import annotations

import os

import minari
import numpy as np
import pytest
import torch
from minari.dataset._storages.hdf5_storage import HDF5Storage

from minirl import data, envs
from minirl.baselines.sac import Actor


@pytest.fixture(autouse=True)
def datasets_root(tmp_path, monkeypatch):
    root = tmp_path / "datasets"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    monkeypatch.delenv("MINIRL_POLICY_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # so a stray MUJOCO_LOG.TXT would show up here
    return root


@pytest.fixture
def policy_dir(tmp_path):
    """Random-init behaviour policies in the shipped format (state dict of sac.Actor(17, 6, 256, low, high))."""
    directory = tmp_path / "policies"
    directory.mkdir()
    for i, level in enumerate(("medium", "expert")):
        torch.manual_seed(i)
        torch.save(Actor(17, 6, 256, -1.0, 1.0).state_dict(), directory / f"halfcheetah-{level}.pt")
    return directory


def assert_same_episodes(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for ep_a, ep_b in zip(a, b):
        assert ep_a.keys() == ep_b.keys()
        for key in ep_a:
            np.testing.assert_array_equal(ep_a[key], ep_b[key], err_msg=key)


def interrupt_after_writing(monkeypatch):
    """Simulates Ctrl-C after Minari has written the episodes but before collect() finishes."""
    original = HDF5Storage.update_episodes

    def update_then_interrupt(self, episodes):
        original(self, episodes)
        raise KeyboardInterrupt

    monkeypatch.setattr(HDF5Storage, "update_episodes", update_then_interrupt)


def test_halfcheetah_random_has_d4rl_shapes_and_time_limit_truncations(tmp_path):
    data.collect("halfcheetah-random", steps=1500, progress=False)
    episodes = data.load("halfcheetah-random")
    # full episode, then the 500-step remainder
    assert [len(ep["rewards"]) for ep in episodes] == [1000, 500]
    for ep in episodes:
        T = len(ep["rewards"])
        assert ep["observations"].shape == (T + 1, 17) and ep["observations"].dtype == np.float32
        assert ep["actions"].shape == (T, 6) and ep["actions"].dtype == np.float32
        assert np.abs(ep["actions"]).max() <= 1.0
        assert ep["rewards"].dtype == np.float32
        # HalfCheetah never terminates
        assert ep["terminations"].dtype == bool and not ep["terminations"].any()
        assert ep["truncations"].tolist() == [False] * (T - 1) + [True]
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


def test_same_seed_rebuilds_identical_arrays_and_another_seed_differs():
    data.collect("halfcheetah-random", steps=2000, seed=3, progress=False)
    first = data.load("halfcheetah-random")
    data.collect("halfcheetah-random", steps=2000, seed=3, progress=False, overwrite=True)
    assert_same_episodes(first, data.load("halfcheetah-random"))
    data.collect("halfcheetah-random", steps=2000, seed=4, progress=False, overwrite=True)
    assert not np.array_equal(
        first[0]["observations"], data.load("halfcheetah-random")[0]["observations"]
    )


def test_babyai_bot_demos_succeed_and_have_babyai_shapes():
    data.collect("babyai-gotoredball", episodes=20, progress=False)
    episodes = data.load("babyai-gotoredball")
    assert len(episodes) == 20
    for ep in episodes:
        T = len(ep["rewards"])
        assert ep["image"].shape == (T + 1, 7, 7, 3) and ep["image"].dtype == np.uint8
        assert ep["direction"].shape == (T + 1,) and ep["direction"].dtype == np.int64
        assert ep["actions"].shape == (T,) and ep["actions"].dtype == np.int64
        assert isinstance(ep["mission"], str) and "red ball" in ep["mission"]
        assert ep["rewards"].sum() > 0  # the noise-free bot solves every episode
        assert ep["terminations"][-1]
    info = data.info("babyai-gotoredball")
    assert (
        info["success_rate"] == 1.0 and info["normalized_score"] is None and info["episodes"] == 20
    )


def test_babyai_rebuild_is_identical_and_noise_changes_actions():
    data.collect("babyai-gotoredball", episodes=10, seed=1, progress=False)
    clean = data.load("babyai-gotoredball")
    data.collect("babyai-gotoredball", episodes=10, seed=1, progress=False, overwrite=True)
    assert_same_episodes(clean, data.load("babyai-gotoredball"))
    data.collect(
        "babyai-gotoredball", episodes=10, seed=1, noise=0.5, progress=False, overwrite=True
    )
    noisy = data.load("babyai-gotoredball")
    # same seed -> same levels, so the first observation matches while the actions do not
    np.testing.assert_array_equal(clean[0]["image"][0], noisy[0]["image"][0])
    assert any(not np.array_equal(c["actions"], n["actions"]) for c, n in zip(clean, noisy))


def _shortest_moves(level, start, target) -> int:
    """Forward moves on a shortest route from `start` to a cell beside `target`, by breadth-first search over the
    grid (walls and objects block, open doors do not): what a bot that knows the whole grid must walk."""
    steps4 = ((1, 0), (-1, 0), (0, 1), (0, -1))
    beside = {(target[0] + dx, target[1] + dy) for dx, dy in steps4}

    def free(x, y):
        cell = level.grid.get(x, y)
        return cell is None or (cell.type == "door" and cell.is_open)

    frontier, seen, distance = [tuple(start)], {tuple(start)}, 0
    while not beside & set(frontier):
        frontier = [
            (x + dx, y + dy)
            for x, y in frontier
            for dx, dy in steps4
            if 0 <= x + dx < level.grid.width and 0 <= y + dy < level.grid.height
        ]
        frontier = [c for c in dict.fromkeys(frontier) if c not in seen and free(*c)]
        seen.update(frontier)
        distance += 1
    return distance


def _demos_and_seeds(name: str, **kwargs):
    data.collect(name, progress=False, overwrite=True, **kwargs)
    dataset = minari.load_dataset(f"minirl/{name}-v0")
    seeds = [
        int(m["seed"]) for m in dataset.storage.get_episode_metadata(range(dataset.total_episodes))
    ]
    return data.load(name), seeds, dataset.storage.metadata["minirl"]


def test_the_omniscient_bot_walks_shortest_routes_where_minigrids_bot_explores():
    """GoToObjMazeS7 (9 rooms, doors open, one object): with the whole grid in its map (`--bot omniscient`, the
    official LEAP demos) every demo's forward moves equal the breadth-first distance to the target; Minigrid's bot,
    which maps only what it has seen, walks further in some episodes of the same levels."""
    extra = {}
    for bot in ("omniscient", "minigrid"):
        episodes, seeds, extra[bot] = _demos_and_seeds(
            "babyai-gotoobjmaze-s7", episodes=10, bot=bot
        )
        env = envs.make_env("babyai-gotoobjmaze-s7")
        excess = []
        for episode, seed in zip(episodes, seeds):
            with envs.quiet():
                env.reset(seed=seed)
            level = env.unwrapped
            shortest = _shortest_moves(level, level.agent_pos, envs.bot_goal(env))
            excess.append(int((episode["actions"] == 2).sum()) - shortest)  # 2: forward
            assert episode["rewards"].sum() > 0
        if bot == "omniscient":
            assert excess == [0] * 10
        else:
            assert min(excess) >= 0 and max(excess) > 0, excess
        assert extra[bot]["bot"] == bot and data.info("babyai-gotoobjmaze-s7")["bot"] == bot


def test_the_omniscient_bot_keeps_only_missions_that_name_one_object():
    """GoToLocalS7N5 (5 objects: "go to a ball" can match two): the omniscient bot's demos all name one object,
    as the official demos were re-drawn until they did; Minigrid's bot keeps the ambiguous ones."""
    env = envs.make_env("babyai-gotolocal-s7n5")
    matches = {}
    for bot in ("omniscient", "minigrid"):
        _, seeds, _ = _demos_and_seeds("babyai-gotolocal-s7n5", episodes=20, bot=bot)
        matches[bot] = []
        for seed in seeds:
            with envs.quiet():
                env.reset(seed=seed)
            matches[bot].append(len(envs.bot_targets(env)))
    assert matches["omniscient"] == [1] * 20
    assert max(matches["minigrid"]) > 1


def test_env_loop_with_the_recorded_seeds_replays_each_demos_level():
    """EnvLoop given a list of seeds resets env i with seed[i]: with a dataset's recorded seeds every env starts at
    its demo's first observation, and the demo's own actions, replayed, end every episode where the demo did."""
    from minirl.evaluate import EnvLoop, PolicyAgent

    episodes, seeds, _ = _demos_and_seeds("babyai-gotoredball", episodes=4)
    step = [0]

    # (N, ...) -> each demo's action at this step (its last one once it is over)
    def replay(states):
        t = step[0]
        step[0] += 1
        return np.array([ep["actions"][min(t, len(ep["actions"]) - 1)] for ep in episodes])

    levels = [envs.make_env("babyai-gotoredball") for _ in seeds]
    loop = EnvLoop(PolicyAgent(replay), levels, seeds)
    for obs, ep in zip(loop.obs, episodes):
        assert np.array_equal(obs["image"], ep["image"][0])
        assert obs["direction"] == ep["direction"][0]
    while not loop.done.all():
        loop.step()
    loop.close()
    assert list(loop.lengths) == [len(ep["actions"]) for ep in episodes]
    assert list(loop.returns) == pytest.approx([float(ep["rewards"].sum()) for ep in episodes])
    with pytest.raises(ValueError, match="3 seeds for 4 envs"):
        EnvLoop(PolicyAgent(replay), levels, seeds[:3])


def test_a_bot_for_halfcheetah_or_an_unknown_bot_is_refused():
    with pytest.raises(ValueError, match="unknown bot 'oracle'; valid: minigrid, omniscient"):
        data.collect("babyai-gotoredball", episodes=1, bot="oracle", progress=False)
    with pytest.raises(ValueError, match="--bot is for BabyAI datasets"):
        data.collect("halfcheetah-random", steps=10, bot="omniscient", progress=False)


def test_minari_opens_what_we_wrote_and_normalizes_scores():
    data.collect("halfcheetah-random", steps=1000, progress=False)
    data.collect("babyai-gotoredball", episodes=3, progress=False)
    assert set(minari.list_local_datasets()) == {
        "minirl/halfcheetah-random-v0",
        "minirl/babyai-gotoredball-v0",
    }
    cheetah = minari.load_dataset("minirl/halfcheetah-random-v0")
    assert cheetah.total_episodes == 1 and cheetah.total_steps == 1000
    spec = envs.ENVS["halfcheetah"]
    expected = (1000.0 - spec.ref_min_score) / (spec.ref_max_score - spec.ref_min_score)
    np.testing.assert_allclose(
        minari.get_normalized_score(cheetah, np.array([1000.0])), [expected], rtol=1e-6
    )
    babyai = minari.load_dataset("minirl/babyai-gotoredball-v0")
    episode = babyai[0]
    assert episode.observations["image"].shape[1:] == (7, 7, 3)
    assert episode.observations["mission"][0] == data.load("babyai-gotoredball")[0]["mission"]


@pytest.mark.parametrize("name", ["halfcheetah-random", "babyai-gotoredball"])
def test_minari_recovers_working_environments_and_the_reset_seeds(name):
    """Minari's own API on a dataset minirl wrote: both recovered envs run, the stored observation space contains
    what they emit, and each episode's reset seed (Minari's episode metadata) reproduces its first observation."""
    data.collect(
        name,
        **({"steps": 1200} if name.startswith("halfcheetah") else {"episodes": 2}),
        progress=False,
    )
    dataset = minari.load_dataset(f"minirl/{name}-v0")
    for eval_env in (False, True):
        with envs.quiet():  # Minari's gym.make: MuJoCo's compile warning would go to MUJOCO_LOG.TXT
            env = dataset.recover_environment(eval_env=eval_env)
        obs, _ = env.reset(seed=0)
        assert dataset.observation_space.contains(obs)
        env.step(env.action_space.sample())
    with envs.quiet():
        env = dataset.recover_environment()
    for meta, episode in zip(
        dataset.storage.get_episode_metadata(range(dataset.total_episodes)),
        dataset.iterate_episodes(),
    ):
        first, _ = env.reset(seed=int(meta["seed"]))
        if isinstance(first, dict):
            np.testing.assert_array_equal(first["image"], episode.observations["image"][0])
        else:
            np.testing.assert_array_equal(first, episode.observations[0])  # float64, bit for bit
    # the working directory is the test's own (datasets_root)
    assert not os.path.exists("MUJOCO_LOG.TXT")
    metadata = dataset.storage.metadata
    assert f"gymnasium=={__import__('gymnasium').__version__}" in metadata["requirements"]
    assert (
        metadata["algorithm_name"]
        and metadata["author"]
        and metadata["code_permalink"].startswith("minirl")
    )


def test_minari_normalized_score_agrees_with_minirl_and_minari_show_reads_the_dataset(tmp_path):
    import subprocess
    import sys

    data.collect("halfcheetah-random", steps=2000, progress=False)
    dataset = minari.load_dataset("minirl/halfcheetah-random-v0")
    returns = np.array([ep.rewards.sum() for ep in dataset.iterate_episodes()])
    ours = [envs.normalized_score("halfcheetah", r) / 100 for r in returns]
    np.testing.assert_allclose(minari.get_normalized_score(dataset, returns), ours, rtol=1e-6)
    # `minari show` makes the env in its own process: silence MuJoCo's compile warning there too
    script = "import mujoco; mujoco.set_mju_user_warning(lambda message: None)\n"
    script += "from minari.cli import app; app()"
    shown = subprocess.run(
        [sys.executable, "-c", script, "show", "minirl/halfcheetah-random-v0"],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    assert (
        shown.returncode == 0 and "HalfCheetah-v5" in shown.stdout and "Total Steps" in shown.stdout
    )
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()


def test_interrupted_collect_leaves_no_loadable_dataset(monkeypatch, datasets_root):
    interrupt_after_writing(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        data.collect("babyai-gotoredball", episodes=2, progress=False)
    with pytest.raises(FileNotFoundError, match="minirl data collect babyai-gotoredball"):
        data.load("babyai-gotoredball")
    assert data.list_datasets() == [] and minari.list_local_datasets() == {}
    assert list(datasets_root.iterdir()) == []  # the staging folder went too


def test_failed_overwrite_keeps_the_previous_dataset(monkeypatch):
    data.collect("babyai-gotoredball", episodes=3, seed=0, progress=False)
    before = data.load("babyai-gotoredball")
    interrupt_after_writing(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        data.collect("babyai-gotoredball", episodes=5, seed=1, progress=False, overwrite=True)
    assert_same_episodes(before, data.load("babyai-gotoredball"))


def test_collect_refuses_to_replace_an_existing_dataset():
    data.collect("babyai-gotoredball", episodes=2, progress=False)
    with pytest.raises(FileExistsError):
        data.collect("babyai-gotoredball", episodes=2, progress=False)


def test_unknown_names_raise_unknown_name_error_and_missing_ones_say_how_to_make_them():
    for call in (data.load, data.collect, data.info, data.env_of, data.remove, data.ensure):
        with pytest.raises(envs.UnknownNameError, match="halfcheetah-medium-replay"):
            call("halfcheetah-bogus")
    with pytest.raises(
        FileNotFoundError, match="make it with: minirl data collect halfcheetah-expert"
    ):
        data.load("halfcheetah-expert")
    assert data.env_of("halfcheetah-medium-expert") == "halfcheetah"
    assert data.env_of("babyai-gotolocal") == "babyai-gotolocal"
    assert data.env_of("mujoco/halfcheetah/medium-v0") == "halfcheetah"


def test_medium_and_expert_roll_out_the_policy_file(policy_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("MINIRL_POLICY_DIR", str(tmp_path))  # a folder without policies
    with pytest.raises(FileNotFoundError, match="halfcheetah-medium.pt"):
        data.collect("halfcheetah-medium", steps=1000, progress=False)
    monkeypatch.delenv("MINIRL_POLICY_DIR")
    data.collect("halfcheetah-medium", steps=1000, progress=False, policy_dir=policy_dir)
    medium = data.load("halfcheetah-medium")
    assert len(medium) == 1 and medium[0]["actions"].shape == (1000, 6)
    # the other way to point at the policies
    monkeypatch.setenv("MINIRL_POLICY_DIR", str(policy_dir))
    # collects the missing expert first
    data.collect("halfcheetah-medium-expert", steps=1000, progress=False)
    expert = data.load("halfcheetah-expert")
    assert not np.array_equal(medium[0]["actions"], expert[0]["actions"])
    assert_same_episodes(data.load("halfcheetah-medium-expert"), medium + expert)
    info = data.info("halfcheetah-medium-expert")
    assert (
        info["episodes"] == 2
        and info["transitions"] == 2000
        and info["normalized_score"] is not None
    )


def fake_replay_buffer(path):
    """Rows as sac.train writes them: episode A (3 steps, truncated), the vector env's autoreset row, episode B
    (4 steps, terminated), another autoreset row, then an unfinished episode C (2 steps)."""
    rng = np.random.default_rng(0)
    obs, next_obs, rewards, terminations, truncations = [], [], [], [], []

    def add_episode(length, terminated, finished=True):
        states = rng.normal(size=(length + 1, 17)).astype(np.float32)
        obs.extend(states[:-1])
        next_obs.extend(states[1:])
        rewards.extend(rng.normal(size=length) + 5)  # never exactly 0
        terminations.extend([False] * (length - 1) + [finished and terminated])
        truncations.extend([False] * (length - 1) + [finished and not terminated])

    def add_autoreset_row():
        obs.append(next_obs[-1])
        # overwritten by the next episode's first state
        next_obs.append(rng.normal(size=17).astype(np.float32))
        rewards.append(0.0)
        terminations.append(False)
        truncations.append(False)

    add_episode(3, terminated=False)
    add_autoreset_row()
    add_episode(4, terminated=True)
    add_autoreset_row()
    add_episode(2, terminated=False, finished=False)
    n = len(obs)
    np.savez(
        path,
        obs=np.array(obs),
        actions=rng.uniform(-1, 1, (n, 6)).astype(np.float32),
        rewards=np.array(rewards, np.float32),
        next_obs=np.array(next_obs),
        terminations=np.array(terminations),
        truncations=np.array(truncations),
    )
    return np.array(obs)


def test_medium_replay_cuts_the_buffer_into_episodes(tmp_path):
    obs = fake_replay_buffer(tmp_path / "halfcheetah-medium-replay.npz")
    data.collect("halfcheetah-medium-replay", progress=False, policy_dir=tmp_path)
    episodes = data.load("halfcheetah-medium-replay")
    assert [len(ep["rewards"]) for ep in episodes] == [3, 4, 2]  # the two autoreset rows are gone
    np.testing.assert_array_equal(episodes[1]["observations"][:-1], obs[4:8])
    assert episodes[0]["truncations"][-1] and episodes[1]["terminations"][-1]
    # cut by the buffer's end
    assert episodes[2]["truncations"][-1] and not episodes[2]["terminations"][-1]
    assert all((ep["rewards"] != 0).all() for ep in episodes)


def test_load_caches_decoded_arrays_and_list_and_remove_manage_datasets():
    path = data.collect("babyai-gotoredball", episodes=4, progress=False)
    decoded = data.load("babyai-gotoredball")
    assert (path / data.CACHE_FILE).exists()
    assert_same_episodes(decoded, data.load("babyai-gotoredball"))  # second load reads the cache
    cache_time = (path / data.CACHE_FILE).stat().st_mtime
    # the dataset is now newer
    os.utime(path / "data" / "main_data.hdf5", (cache_time + 10, cache_time + 10))
    assert_same_episodes(decoded, data.load("babyai-gotoredball"))
    assert (path / data.CACHE_FILE).stat().st_mtime > cache_time  # so the cache was rebuilt
    assert data.list_datasets() == [
        dict(
            name="babyai-gotoredball",
            episodes=4,
            transitions=sum(len(ep["rewards"]) for ep in decoded),
            path=str(path),
        )
    ]
    data.remove("babyai-gotoredball")
    assert data.list_datasets() == []
    with pytest.raises(FileNotFoundError):
        data.remove("babyai-gotoredball")


def test_ensure_collects_a_missing_dataset(monkeypatch):
    # the real default (1000) is too slow for a unit test
    monkeypatch.setattr(data, "DEFAULT_BABYAI_EPISODES", 3)
    assert len(data.ensure("babyai-gotoredball", progress=False)) == 3
    assert len(data.ensure("babyai-gotoredball", progress=False)) == 3  # now it only loads


@pytest.mark.parametrize("level", ["medium", "expert"])
def test_data_from_the_shipped_policy_scores_what_its_card_says(level):
    """Two fresh 1000-step episodes (collect's own seeds, not the card's) of the shipped policy: their mean return
    is within 3 standard errors (the card's 10-episode spread) plus 5% of the card's stochastic mean."""
    import json

    card = json.loads((data.POLICY_DIR / f"halfcheetah-{level}.json").read_text())
    data.collect(f"halfcheetah-{level}", episodes=2, progress=False)
    mean = np.mean([ep["rewards"].sum() for ep in data.load(f"halfcheetah-{level}")])
    tolerance = 3 * card["eval_return_std"] / np.sqrt(2) + 0.05 * abs(card["eval_return_mean"])
    assert abs(mean - card["eval_return_mean"]) <= tolerance, (
        mean,
        card["eval_return_mean"],
        tolerance,
    )


def test_collect_and_load_with_a_relative_datasets_folder(monkeypatch, tmp_path):
    # MINARI_DATASETS_PATH=runs/minari (relative to the working directory) is how the table scripts keep their data
    monkeypatch.setenv("MINARI_DATASETS_PATH", "runs/minari")
    data.collect("babyai-gotoredball", episodes=2, seed=3, progress=False)
    assert (tmp_path / "runs/minari/minirl/babyai-gotoredball-v0/data/main_data.hdf5").is_file()
    assert len(data.load("babyai-gotoredball")) == 2
