"""Decision Transformer (minirl/dt.py): it learns, it is causal, it acts as it was trained, and it beats chance.

Everything runs on real data at tiny sizes: BabyAI bot demonstrations and random HalfCheetah rollouts collected
into a private Minari folder, plus (for the HalfCheetah quality test) a dataset rolled out in the real env from a
scripted gait, since random data holds no behaviour worth copying.
"""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from minirl import data, dt
from minirl.envs import get_spec, make_env, quiet
from minirl.evaluate import rollout
from minirl.train import fit, make_config

TINY = {
    "n_layer": 1,
    "n_head": 1,
    "d_model": 32,
    "context_len": 5,
    "batch_size": 64,
    "dropout": 0.0,
    "lr": 3e-3,
    "warmup_steps": 20,
}


@pytest.fixture(scope="module", autouse=True)
def datasets(tmp_path_factory):
    """This module's own datasets (100 bot demos, 3000 random HalfCheetah steps), whatever other tests collected."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("dt_minari")))
        data.collect("babyai-gotoredball", episodes=100, seed=0, progress=False)
        data.collect("halfcheetah-random", steps=3000, seed=0, progress=False)
        yield


def train(episodes, env, steps, run_dir, seed=0, **overrides):
    """-> (model in eval mode, tokenizer, config, prepared data), trained by the shared loop."""
    cfg = make_config(dt, dict(TINY, steps=steps, **overrides), env)
    tok = dt.make_tokenizer(episodes, get_spec(env), cfg)
    prepared = dt.prepare(episodes, tok, cfg)
    torch.manual_seed(seed)
    model = dt.Model(cfg, tok)
    fit(
        model,
        lambda rng: dt.sample_batch(prepared, cfg, rng),
        cfg,
        run_dir,
        {"algo": "dt"},
        seed=seed,
        progress=False,
    )
    return model, tok, cfg, prepared


@torch.no_grad()
def mean_loss(model, batches):
    model.eval()
    return float(np.mean([model.loss(b).item() for b in batches]))


def fixed_batches(prepared, cfg, n=4):
    rng = np.random.default_rng(123)
    return [dt.sample_batch(prepared, cfg, rng) for _ in range(n)]


# ---------------------------------------------------------------------------------------------- learning


@pytest.mark.parametrize(
    "name, episodes, steps, factor",
    [
        ("babyai-gotoredball", 30, 60, 0.5),
        # random actions cannot be predicted from the state: the loss falls only as the model memorizes 3000 steps
        ("halfcheetah-random", 3, 100, 0.85),
    ],
)
def test_training_loss_falls_on_real_data(name, episodes, steps, factor, tmp_path):
    eps = data.load(name)[:episodes]
    cfg = make_config(dt, dict(TINY, steps=steps), name)
    tok = dt.make_tokenizer(eps, get_spec(name), cfg)
    prepared = dt.prepare(eps, tok, cfg)
    torch.manual_seed(0)
    model = dt.Model(cfg, tok)
    batches = fixed_batches(prepared, cfg)
    before = mean_loss(model, batches)
    fit(
        model,
        lambda rng: dt.sample_batch(prepared, cfg, rng),
        cfg,
        tmp_path,
        {"algo": "dt"},
        progress=False,
    )
    assert mean_loss(model, batches) < factor * before


@pytest.mark.parametrize(
    "name, episodes, steps", [("babyai-gotoredball", 5, 150), ("halfcheetah-random", 1, 300)]
)
def test_model_overfits_a_handful_of_episodes(name, episodes, steps, tmp_path):
    model, tok, cfg, prepared = train(data.load(name)[:episodes], name, steps, tmp_path)
    # cross-entropy (nats) or MSE on [-1, 1] actions
    assert mean_loss(model, fixed_batches(prepared, cfg)) < 0.01


# ---------------------------------------------------------------------------------------------- the model


def random_weights_model(name, **overrides):
    """A tiny model with weights large enough that every input visibly moves the output."""
    eps = data.load(name)[:20]
    cfg = make_config(dt, dict(TINY, n_layer=2, n_head=2, **overrides), name)
    tok = dt.make_tokenizer(eps, get_spec(name), cfg)
    torch.manual_seed(0)
    model = dt.Model(cfg, tok).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model, tok, cfg, dt.prepare(eps, tok, cfg)


def full_window_batch(prepared, cfg):
    batch = dt.sample_batch(prepared, cfg, np.random.default_rng(0))
    keep = batch["mask"].all(1)  # windows without padding, so every step is real
    return {k: v[keep] for k, v in batch.items()}


@pytest.mark.parametrize("name", ["halfcheetah-random", "babyai-gotoredball"])
def test_prediction_at_t_ignores_everything_after_s_t(name):
    model, tok, cfg, prepared = random_weights_model(name)
    batch = full_window_batch(prepared, cfg)
    t = 2
    changed = {k: v.clone() for k, v in batch.items()}
    changed["rtg"][:, t + 1 :] += 5.0
    changed["states"][:, t + 1 :] = batch["states"][:, t + 1 :].flip(
        0
    )  # other windows' real states
    # a_t comes after s_t, so it is hidden too
    changed["actions"][:, t:] = batch["actions"][:, t:].flip(0)
    keys = ("rtg", "states", "actions", "timesteps", "mask")
    before, after = model(*(batch[k] for k in keys)), model(*(changed[k] for k in keys))
    torch.testing.assert_close(before[:, : t + 1], after[:, : t + 1])
    # ...while later predictions do see them
    assert (before[:, t + 1 :] - after[:, t + 1 :]).abs().max() > 1e-3


def test_prediction_at_t_depends_on_the_return_to_go_at_t():
    model, tok, cfg, prepared = random_weights_model("halfcheetah-random")
    batch = full_window_batch(prepared, cfg)
    changed = dict(batch, rtg=batch["rtg"].clone())
    changed["rtg"][:, -1] += 1.0
    keys = ("rtg", "states", "actions", "timesteps", "mask")
    assert (
        model(*(batch[k] for k in keys))[:, -1] - model(*(changed[k] for k in keys))[:, -1]
    ).abs().max() > 1e-3


def test_captured_attention_has_one_causal_map_per_layer():
    model, tok, cfg, prepared = random_weights_model("halfcheetah-random")
    batch = full_window_batch(prepared, cfg)
    args = [batch[k] for k in ("rtg", "states", "actions", "timesteps", "mask")]
    model.transformer.capture_attention()
    preds = model(*args)
    maps = model.transformer.attention_maps()
    model.transformer.capture_attention(False)
    torch.testing.assert_close(preds, model(*args))
    K, B = cfg.context_len, len(preds)
    assert len(maps) == cfg.n_layer and maps[0].shape == (B, cfg.n_head, 3 * K, 3 * K)
    for attn in maps:
        torch.testing.assert_close(attn.sum(-1), torch.ones(B, cfg.n_head, 3 * K))
        assert attn.triu(1).abs().max() == 0  # token i never attends to j > i


@pytest.mark.parametrize("name", ["halfcheetah-random", "babyai-gotoredball"])
def test_act_matches_a_batched_forward_on_the_same_history(name):
    """Drive the agent with 3 recorded episodes for 8 steps (the K=5 window rolls), then rebuild its history."""
    model, tok, cfg, _ = random_weights_model(name)
    episodes = [ep for ep in data.load(name) if len(ep["rewards"]) >= 8][:3]
    states = np.stack([tok.states(ep)[:8] for ep in episodes])  # (N, 8, S)
    rewards = np.stack([ep["rewards"][:8] for ep in episodes])  # (N, 8)
    target = 1.0 if tok.discrete else 500.0
    agent = dt.Agent(model, tok, target_return=target)
    agent.reset(3)
    actions = []
    for t in range(8):
        actions.append(agent.act(states[:, t]))
        agent.observe(rewards[:, t], np.zeros(3, bool))
    actions = np.stack(actions, 1)  # (N, 8, A) or (N, 8)
    # R̂ at each step
    rtg_before = target - np.concatenate([np.zeros((3, 1)), np.cumsum(rewards, 1)[:, :-1]], 1)
    np.testing.assert_allclose(np.array(agent.trace["rtg"]), rtg_before, rtol=1e-5, atol=1e-4)
    window = slice(8 - cfg.context_len, 8)
    history = (
        torch.as_tensor(rtg_before[:, window] / tok.rtg_scale, dtype=torch.float32),
        torch.as_tensor(states[:, window]),
        torch.as_tensor(actions[:, window]),
        torch.arange(8)[window].repeat(3, 1),
    )
    with torch.no_grad():
        preds = model(*history)[:, -1]
    if tok.discrete:
        np.testing.assert_array_equal(preds.argmax(-1).numpy(), actions[:, -1])
    else:
        np.testing.assert_allclose(preds.numpy(), actions[:, -1], atol=1e-5)


# ---------------------------------------------------------------------------------------------- beating chance


def random_policy_returns(env_name, seeds):
    returns = []
    for seed in seeds:
        env, total, done = make_env(env_name), 0.0, False
        with quiet():
            env.reset(seed=seed)
            env.action_space.seed(seed)
            while not done:
                _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
                total, done = total + reward, terminated or truncated
        returns.append(total)
    return np.array(returns)


def test_trained_dt_succeeds_more_often_than_a_random_policy_on_babyai(tmp_path):
    model, tok, cfg, _ = train(data.load("babyai-gotoredball"), "babyai-gotoredball", 300, tmp_path)
    result = rollout(
        dt,
        model,
        tok,
        "babyai-gotoredball",
        episodes=50,
        seed=1000,
        progress=False,
        target_return=1.0,
    )
    random_success = (random_policy_returns("babyai-gotoredball", range(1000, 1050)) > 0).mean()
    assert result["success_rate"] > random_success, (result["success_rate"], random_success)


# found by random search; runs forward
GAIT_PERIOD, GAIT_PHASES = 16, np.array([1.97, 3.62, 6.11, 4.87, 4.97, 4.77])


def gait_episode(seed, scripted):
    """A real 1000-step HalfCheetah episode: the scripted gait (+ noise 0.1, return ~800) or random actions (~-280)."""
    env, rng = make_env("halfcheetah"), np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    observations, actions, rewards = [obs], [], []
    for t in range(1000):
        gait = np.sin(2 * np.pi * t / GAIT_PERIOD + GAIT_PHASES) + 0.1 * rng.standard_normal(6)
        action = np.clip(gait if scripted else rng.uniform(-1, 1, 6), -1, 1).astype(np.float32)
        obs, reward, *_ = env.step(action)
        observations.append(obs), actions.append(action), rewards.append(reward)
    truncations = np.zeros(1000, bool)
    truncations[-1] = True
    return {
        "observations": np.array(observations, np.float32),
        "actions": np.array(actions),
        "rewards": np.array(rewards, np.float32),
        "terminations": np.zeros(1000, bool),
        "truncations": truncations,
    }


def test_dt_asked_for_a_high_return_beats_random_on_halfcheetah(tmp_path):
    """Half the data runs forward (scripted gait), half is random: asked for 800, DT must pick out the gait."""
    episodes = [gait_episode(seed, scripted=seed < 3) for seed in range(6)]
    model, tok, cfg, _ = train(episodes, "halfcheetah", 500, tmp_path)
    high = rollout(
        dt, model, tok, "halfcheetah", episodes=4, seed=100, progress=False, target_return=800.0
    )
    low = rollout(
        dt, model, tok, "halfcheetah", episodes=4, seed=100, progress=False, target_return=-300.0
    )
    random_mean = random_policy_returns("halfcheetah", range(100, 104)).mean()
    assert high["return_mean"] > random_mean, (high["return_mean"], random_mean)
    # R̂ steers
    assert high["return_mean"] > low["return_mean"], (high["return_mean"], low["return_mean"])


# ---------------------------------------------------------------------------------------------- the CLI

TINY_SET = [arg for key, value in TINY.items() for arg in ("--set", f"{key}={value}")]


def cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def test_cli_trains_and_evaluates_dt_on_babyai(tmp_path):
    run = tmp_path / "run"
    cli(
        "train",
        "dt",
        "--dataset",
        "babyai-gotoredball",
        "--steps",
        20,
        "--out",
        run,
        "--quiet",
        *TINY_SET,
    )
    cli("eval", run, "--episodes", 2, "--quiet", "--target-return", "0.5,1")
    runs = json.loads((run / "eval.json").read_text())["runs"]
    assert [r["options"]["target_return"] for r in runs] == [0.5, 1.0]
    assert all(len(r["returns"]) == 2 and 0 <= r["success_rate"] <= 1 for r in runs)


def test_cli_eval_on_halfcheetah_sweeps_the_paper_targets_by_default(tmp_path):
    run = tmp_path / "run"
    cli(
        "train",
        "dt",
        "--dataset",
        "halfcheetah-random",
        "--steps",
        10,
        "--out",
        run,
        "--quiet",
        *TINY_SET,
    )
    cli("eval", run, "--episodes", 1, "--quiet")
    runs = json.loads((run / "eval.json").read_text())["runs"]
    assert [r["options"]["target_return"] for r in runs] == [6000.0, 12000.0]
    assert all(r["lengths"] == [1000] and len(r["trace"]["rtg"][0]) == 1000 for r in runs)


def test_cli_resume_reaches_the_same_weights_as_an_uninterrupted_run(tmp_path):
    common = (
        "--dataset",
        "babyai-gotoredball",
        "--quiet",
        "--seed",
        3,
        *TINY_SET,
        "--set",
        "dropout=0.1",
    )
    cli("train", "dt", "--steps", 20, "--out", tmp_path / "whole", *common)
    cli("train", "dt", "--steps", 8, "--out", tmp_path / "split", *common)
    cli("train", "dt", "--steps", 20, "--out", tmp_path / "split", "--resume", *common)
    whole = torch.load(tmp_path / "whole" / "checkpoint.pt", weights_only=False)
    split = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=False)
    assert whole["step"] == split["step"] == 20
    for key, value in whole["model"].items():
        assert torch.equal(value, split["model"][key]), key


def test_a_budget_stop_logs_its_last_step(tmp_path):
    """A run cut by --budget-minutes before its first regular log step still leaves its final row in metrics.jsonl."""
    run = tmp_path / "run"
    cli(
        "train",
        "dt",
        "--dataset",
        "babyai-gotoredball",
        "--steps",
        500,
        "--budget-minutes",
        0.0001,
        "--out",
        run,
        "--quiet",
        *TINY_SET,
    )
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    step = torch.load(run / "checkpoint.pt", weights_only=False)["step"]
    assert 0 < step < 500 and rows and rows[-1]["step"] == step
