"""SAC (the behaviour-policy learner): it learns on a very short real HalfCheetah run; shipped policies act."""

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from minirl.baselines import sac
from minirl.envs import quiet

POLICY_DIR = Path(sac.__file__).resolve().parent.parent / "policies"


def random_policy_return(episodes: int, max_steps: int, seed: int) -> float:
    with quiet():  # MuJoCo's compile warning would go to MUJOCO_LOG.TXT in the working directory
        env = gym.make("HalfCheetah-v5", max_episode_steps=max_steps)
    env.action_space.seed(seed)
    total = 0.0
    for i in range(episodes):
        env.reset(seed=seed + i)
        done = False
        while not done:
            _, r, term, trunc, _ = env.step(env.action_space.sample())
            total, done = total + r, term or trunc
    return total / episodes


def vector_env_returns(
    actor, episodes: int, seed: int, deterministic: bool, max_steps: int
) -> list[float]:
    """evaluate_policy as it was before it used evaluate.EnvLoop: one Gymnasium vector env, the actor on every
    env's observation at every step (finished envs autoreset), returns masked once an env is done."""
    with quiet():
        envs = gym.vector.SyncVectorEnv(
            [
                lambda: gym.make("HalfCheetah-v5", max_episode_steps=max_steps)
                for _ in range(episodes)
            ]
        )
    obs, _ = envs.reset(seed=seed)
    returns, done = np.zeros(episodes), np.zeros(episodes, bool)
    while not done.all():
        obs, reward, term, trunc, _ = envs.step(actor.act(obs, deterministic))
        returns += reward * ~done
        done |= term | trunc
    envs.close()
    return returns.tolist()


@pytest.mark.parametrize("deterministic", [True, False])
def test_evaluate_policy_returns_exactly_what_a_vector_env_loop_returns(deterministic):
    """The evaluation inside `sac.train` gives the same returns, and leaves torch's generator in the same state,
    as the vector-env loop it replaced, so a SAC run resumed with either code reaches the same numbers."""
    card = json.loads((POLICY_DIR / "halfcheetah-medium.json").read_text())
    actor = sac.Actor(17, 6, card["hidden"], -1.0, 1.0)
    actor.load_state_dict(torch.load(POLICY_DIR / "halfcheetah-medium.pt"))
    torch.manual_seed(7)
    expected, expected_rng = (
        vector_env_returns(actor, 3, 10_500, deterministic, 50),
        torch.get_rng_state(),
    )
    torch.manual_seed(7)
    got = sac.evaluate_policy(
        actor, "HalfCheetah-v5", 3, seed=10_500, deterministic=deterministic, max_episode_steps=50
    )
    assert got == expected
    assert torch.equal(torch.get_rng_state(), expected_rng)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sac")
    cfg = sac.Config(
        total_steps=2000,
        learning_starts=500,
        eval_every=500,
        eval_episodes=3,
        max_episode_steps=100,
        batch_size=128,
        hidden=64,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(
            out
        )  # so that test_sac_leaves_no_mujoco_log_in_the_working_directory sees its working directory
        sac.train(cfg, out, snapshot_every=1000, buffer_every=10**9)
    return out, [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_sac_leaves_no_mujoco_log_in_the_working_directory(short_run):
    out, _ = short_run  # trained (and evaluated) with `out` as the working directory
    assert (out / "metrics.jsonl").exists() and not (out / "MUJOCO_LOG.TXT").exists()


def test_sac_critic_loss_falls(short_run):
    _, rows = short_run
    assert rows[-1]["critic_loss"] < 0.5 * rows[0]["critic_loss"]


def test_sac_beats_a_random_policy_after_a_short_run(short_run):
    _, rows = short_run
    assert rows[-1]["eval_return_mean"] > random_policy_return(3, 100, seed=0) + 10


def test_sac_writes_policies_and_the_replay_buffer(short_run):
    out, _ = short_run
    buffer = np.load(out / "replay_buffer.npz")
    assert buffer["obs"].shape[1] == 17 and buffer["actions"].shape[1] == 6
    ends = np.flatnonzero(buffer["truncations"])
    # 100-step episodes in insertion order; the vector env's reset steps (no transition) are not stored
    assert len(ends) == 19 and (np.diff(ends) == 100).all() and ends[0] == 99
    # rows chain within an episode
    np.testing.assert_array_equal(buffer["obs"][1:100], buffer["next_obs"][:99])
    actor = sac.Actor(17, 6, 64)
    actor.load_state_dict(torch.load(out / "policy_final.pt"))


@pytest.mark.parametrize("level", ["medium", "expert"])
def test_shipped_policies_load_and_act(level):
    card = json.loads((POLICY_DIR / f"halfcheetah-{level}.json").read_text())
    actor = sac.Actor(17, 6, card["hidden"], -1.0, 1.0)
    actor.load_state_dict(torch.load(POLICY_DIR / f"halfcheetah-{level}.pt"))
    with quiet():
        env = gym.make("HalfCheetah-v5")
    obs, _ = env.reset(seed=0)
    actions = actor.act(np.stack([obs, obs]))
    assert actions.shape == (2, 6) and np.all(np.abs(actions) <= 1.0)
    assert card["eval_return_mean"] > 0


RESUME_CFG = dict(
    total_steps=1200,
    learning_starts=200,
    eval_every=400,
    eval_episodes=2,
    max_episode_steps=130,
    batch_size=32,
    hidden=32,
    num_envs=2,
)


def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("sac-full")
    sac.train(sac.Config(**RESUME_CFG), out, snapshot_every=400, checkpoint_every=300)
    return out


def rows_without_wall_time(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "wall_s"} for row in rows]


def test_sac_resumes_a_killed_run_to_the_same_weights(tmp_path_factory):
    """A run killed (SIGKILL) after a checkpoint, mid-episode (130-step episodes, checkpoints every 300 steps), then
    resumed, ends with exactly the weights, replay buffer and evaluation rows of a run that was never stopped."""
    import subprocess
    import sys
    import time

    full = uninterrupted(tmp_path_factory)
    out = tmp_path_factory.mktemp("sac-killed")
    script = (
        "import sys; from minirl.baselines import sac; "
        f"sac.train(sac.Config(**{RESUME_CFG!r}), sys.argv[1], snapshot_every=400, checkpoint_every=300)"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(out)])
    deadline = time.time() + 300
    while (
        not (out / "checkpoint" / "state.pt").exists()
        and time.time() < deadline
        and proc.poll() is None
    ):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    assert not (out / "policy_final.pt").exists(), "the run finished before it could be killed"
    assert (out / "checkpoint" / "state.pt").exists()
    sac.train(sac.Config(**RESUME_CFG), out, snapshot_every=400, checkpoint_every=300, resume=True)

    a, b = torch.load(full / "policy_final.pt"), torch.load(out / "policy_final.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    with np.load(full / "replay_buffer.npz") as x, np.load(out / "replay_buffer.npz") as y:
        # 600 calls per env; an episode is 130 transitions + 1 autoreset call, so 4 autoreset rows per env skipped
        assert len(x["obs"]) == 1200 - 2 * 4 and all(np.array_equal(x[k], y[k]) for k in x.files)
    assert rows_without_wall_time(full / "metrics.jsonl") == rows_without_wall_time(
        out / "metrics.jsonl"
    )


def test_sac_checkpoint_loads_with_weights_only(tmp_path):
    sac.train(sac.Config(**{**RESUME_CFG, "total_steps": 300}), tmp_path, checkpoint_every=300)
    state = torch.load(tmp_path / "checkpoint" / "state.pt", weights_only=True)
    # 150 calls per env: one autoreset each
    assert state["step"] == 300 and state["buffer_n"] == 300 - 2 * 1


def test_cli_resume_refuses_a_folder_that_is_not_a_run(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    result = CliRunner().invoke(app, ["baseline", "sac", "--resume", str(tmp_path)])
    assert (
        result.exit_code != 0
        and "not a SAC run" in result.output
        and "Traceback" not in result.output
    )
