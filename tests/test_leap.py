"""LEAP (lesson 06): a bidirectional masked model over plans, the energy it defines, and planning by lowering it.

Real data only: BabyAI bot demonstrations and random HalfCheetah steps, collected into this file's own Minari folder.
One tiny model is trained once (module fixture) on 80 GoToRedBall episodes; the other 20 are held out.
"""

import dataclasses
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from minirl import data, evaluate, leap, train
from minirl.envs import get_spec, make_env, quiet

TINY = dict(
    n_layer=2, n_head=2, d_model=64, batch_size=32, warmup_steps=10, horizon=5, iterations=3
)
TRAIN_STEPS = 300
EVAL_EPISODES, EVAL_SEED = 30, 1000


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """This file's own datasets in a private folder, so other test files' dataset sizes cannot leak in."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("leap_minari")))
        data.collect("babyai-gotoredball", episodes=100, seed=0, progress=False)
        data.collect("halfcheetah-random", steps=3000, seed=0, progress=False)
        yield


def _setup(name: str, episodes: list, overrides: dict):
    spec = get_spec(data.env_of(name))
    cfg = train.make_config(leap, overrides, spec.name)
    tok = leap.make_tokenizer(episodes, spec, cfg)
    return spec, cfg, tok


@pytest.fixture(scope="module")
def trained(datasets, tmp_path_factory):
    """A tiny LEAP trained through the shared loop on 80 GoToRedBall demos: (model, tok, cfg, held-out, losses)."""
    episodes = data.load("babyai-gotoredball")
    train_eps, held_out = episodes[:80], episodes[80:]
    spec, cfg, tok = _setup("babyai-gotoredball", train_eps, dict(TINY, steps=TRAIN_STEPS))
    prepared = leap.prepare(train_eps, tok, cfg)
    torch.manual_seed(0)
    model = leap.Model(cfg, tok)
    run_dir = tmp_path_factory.mktemp("leap_run")
    meta = {
        "algo": "leap",
        "dataset": "babyai-gotoredball",
        "env": spec.name,
        "seed": 0,
        "config": {},
        "tokenizer": tok.state_dict(),
    }
    train.fit(
        model,
        lambda rng: leap.sample_batch(prepared, cfg, rng),
        cfg,
        run_dir,
        meta,
        progress=False,
        log_every=1,
    )
    losses = [
        json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()
    ]
    return model.eval(), tok, cfg, held_out, losses


def _full_plans(episodes, tok, cfg, n=200, seed=1):
    """States and their following H bot actions, for plans that lie wholly inside their episode."""
    batch = leap.sample_batch(
        leap.prepare(episodes, tok, cfg),
        dataclasses.replace(cfg, batch_size=n),
        np.random.default_rng(seed),
    )
    full = batch["real"].all(1) & (batch["plan"] < tok.act_dim).all(1)  # no padding, no [END]
    return batch["states"][full], batch["plan"][full]


# ---------------------------------------------------------------------------------------------- the model


def test_bidirectional_attention_sees_later_plan_tokens(datasets):
    episodes = data.load("babyai-gotoredball")[:5]
    _, cfg, tok = _setup("babyai-gotoredball", episodes, TINY)
    torch.manual_seed(0)
    model = leap.Model(cfg, tok).eval()
    states, plan = _full_plans(episodes, tok, cfg, n=64)
    assert len(plan) > 0
    changed = plan.clone()
    changed[:, -1] = (plan[:, -1] + 1) % model.vocab  # only the LAST action differs
    with torch.no_grad():
        before, after = model(states, plan), model(states, changed)
    assert (before[:, 0] - after[:, 0]).abs().max() > 1e-4  # the first token's prediction moved


def test_captured_attention_layout_is_state_then_plan_and_not_causal(datasets):
    episodes = data.load("babyai-gotoredball")[:5]
    _, cfg, tok = _setup("babyai-gotoredball", episodes, TINY)
    model = leap.Model(cfg, tok).eval()
    states, plan = (x[:8] for x in _full_plans(episodes, tok, cfg, n=64))
    assert len(plan) == 8
    real = torch.ones_like(plan, dtype=torch.bool)
    real[:, -2:] = False  # the last two plan tokens are padding
    model.transformer.capture_attention()
    logits = model(states, plan, real)
    maps = model.transformer.attention_maps()
    model.transformer.capture_attention(False)
    L = plan.shape[1]
    assert logits.shape == (len(plan), L, model.vocab)
    assert len(maps) == cfg.n_layer and maps[0].shape == (len(plan), cfg.n_head, 1 + L, 1 + L)
    for attn in maps:
        torch.testing.assert_close(attn.sum(-1), torch.ones(attn.shape[:-1]))
        # plan token 0 attends to later plan tokens: bidirectional
        assert attn[:, :, 1, 2:-2].sum() > 0
        assert attn[:, :, :-2, -2:].abs().max() == 0  # nobody real attends to padding


def test_masked_lm_loss_falls_on_real_demonstrations(trained):
    *_, losses = trained
    first, last = np.mean(losses[:5]), np.mean(losses[-30:])  # one row per step; batches are noisy
    # starts near chance over 7 actions
    assert first > 0.8 * np.log(7) and last < 0.5 * first, (first, last)


def test_energy_is_the_sum_of_one_masked_predictions(trained):
    model, tok, cfg, held_out, _ = trained
    states, plan = _full_plans(held_out, tok, cfg, n=32)
    with torch.no_grad():
        batched = model.energy(states, plan)
        by_hand = torch.zeros(len(plan))
        for i in range(plan.shape[1]):  # one forward per position, token i masked
            log_p = model(
                states, plan.masked_fill(torch.arange(plan.shape[1]) == i, model.mask_id)
            ).log_softmax(-1)
            by_hand -= log_p[torch.arange(len(plan)), i, plan[:, i]]
    torch.testing.assert_close(batched, by_hand, rtol=1e-4, atol=1e-4)


def test_demonstrated_plans_have_lower_energy_than_shuffled_or_random_ones(trained):
    model, tok, cfg, held_out, _ = trained
    states, plan = _full_plans(held_out, tok, cfg)
    g = torch.Generator().manual_seed(0)
    shuffled = torch.stack([row[torch.randperm(len(row), generator=g)] for row in plan])
    random = torch.randint(model.vocab, plan.shape, generator=g)
    with torch.no_grad():
        e_data, e_shuffled, e_random = (
            model.energy(states, p).mean() for p in (plan, shuffled, random)
        )
    assert e_data < e_shuffled < e_random, (e_data, e_shuffled, e_random)


def test_refinement_lowers_plan_energy_from_its_start(trained):
    model, tok, cfg, held_out, _ = trained
    states, _ = _full_plans(held_out, tok, cfg)
    plan, energies = model.plan(
        states, horizon=5, iterations=10, generator=torch.Generator().manual_seed(0)
    )
    assert plan.shape == (len(states), 5) and energies.shape == (len(states), 11)
    # sampled Gibbs steps: lower, noisily
    assert energies[:, -1].mean() < energies[:, 0].mean(), energies.mean(0)
    # the last column is the plan's E
    torch.testing.assert_close(energies[:, -1], model.energy(states, plan))
    # argmax steps (the official code): a clear descent
    model.cfg = dataclasses.replace(cfg, temperature=0.0)
    try:
        _, greedy = model.plan(states, horizon=5, iterations=10)
    finally:
        model.cfg = cfg
    assert greedy[:, -1].mean() < 0.8 * greedy[:, 0].mean(), greedy.mean(0)


def test_plans_may_end_but_the_executed_step_is_an_action(trained):
    """BabyAI plans that run past the episode's end hold [END]; plan() never puts [END] first."""
    model, tok, cfg, held_out, _ = trained
    batch = leap.sample_batch(
        leap.prepare(held_out, tok, cfg),
        dataclasses.replace(cfg, batch_size=256),
        np.random.default_rng(0),
    )
    # bot episodes end by success
    assert (batch["plan"] == model.end_id).any() and batch["real"].all()
    # every sampled step has an action of its own
    assert not (batch["plan"][:, 0] == model.end_id).any()
    states = batch["states"][:64]
    plan, _ = model.plan(
        states, horizon=5, iterations=10, generator=torch.Generator().manual_seed(0)
    )
    assert not (plan[:, 0] == model.end_id).any()


# ---------------------------------------------------------------------------------------------- acting


def _random_policy_success(env: str, episodes: int, seed: int) -> float:
    rng, wins = np.random.default_rng(0), []
    for i in range(episodes):
        e = make_env(env)
        with quiet():
            e.reset(seed=seed + i)
            total, done = 0.0, False
            while not done:
                _, r, terminated, truncated, _ = e.step(int(rng.integers(e.action_space.n)))
                total, done = total + r, terminated or truncated
        wins.append(total > 0)
    return float(np.mean(wins))


def test_tiny_planner_beats_a_random_policy_on_gotoredball(trained):
    model, tok, *_ = trained
    result = evaluate.rollout(
        leap,
        model,
        tok,
        "babyai-gotoredball",
        episodes=EVAL_EPISODES,
        seed=EVAL_SEED,
        progress=False,
        iterations=3,
        horizon=5,
    )
    random_success = _random_policy_success("babyai-gotoredball", EVAL_EPISODES, EVAL_SEED)
    assert result["success_rate"] > random_success, (result["success_rate"], random_success)
    # one entry per decision: energy at each of the 3 + 1 stages, and the latency
    trace = result["trace"]
    assert len(trace["energy_per_iteration"]) == len(trace["latency_ms"]) == max(result["lengths"])
    assert all(len(row) == 4 for row in trace["energy_per_iteration"])


def test_halfcheetah_actions_are_one_token_per_dimension(datasets):
    episodes = data.load("halfcheetah-random")
    _, cfg, tok = _setup("halfcheetah-random", episodes, dict(TINY, horizon=2, n_bins=16))
    batch = leap.sample_batch(leap.prepare(episodes, tok, cfg), cfg, np.random.default_rng(0))
    assert batch["plan"].shape == (cfg.batch_size, 2 * 6) and int(batch["plan"].max()) < 16
    model = leap.Model(cfg, tok).eval()
    agent = leap.Agent(model, tok, iterations=2, horizon=2)
    agent.reset(3)
    states = tok.states(episodes[0])[:3]
    actions = agent.act(states)
    assert actions.shape == (3, 6) and actions.dtype == np.float32 and np.abs(actions).max() <= 1.0
    assert len(agent.trace["energy_per_iteration"][0]) == 3


def test_agent_rejects_a_horizon_longer_than_trained(trained):
    model, tok, *_ = trained
    with pytest.raises(ValueError, match="horizon"):
        leap.Agent(model, tok, horizon=6)


# ---------------------------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize(
    "dataset, eval_args",
    [
        ("babyai-gotoredball", ["--episodes", "2", "--iterations", "2", "--horizon", "3"]),
        ("halfcheetah-random", ["--episodes", "1", "--iterations", "1", "--horizon", "1"]),
    ],
)
def test_cli_trains_and_evaluates_leap(datasets, tmp_path, dataset, eval_args):
    from cli import app

    runner, run = CliRunner(), tmp_path / "run"
    sets = [
        "--set",
        "n_layer=1",
        "--set",
        "d_model=32",
        "--set",
        "n_head=2",
        "--set",
        "batch_size=8",
        "--set",
        "horizon=3",
        "--set",
        "n_bins=8",
    ]
    result = runner.invoke(
        app,
        [
            "train",
            "leap",
            "--dataset",
            dataset,
            "--steps",
            "3",
            "--out",
            str(run),
            "--quiet",
            "--device",
            "cpu",
            *sets,
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["eval", str(run), *eval_args])
    assert result.exit_code == 0, result.output
    [evaluation] = json.loads((run / "eval.json").read_text())["runs"]
    iterations = int(eval_args[eval_args.index("--iterations") + 1])
    assert evaluation["options"] == {"iterations": iterations, "horizon": int(eval_args[-1])}
    assert len(evaluation["trace"]["energy_per_iteration"][0]) == iterations + 1
    # longer than the trained plans
    result = runner.invoke(app, ["eval", str(run), "--horizon", "4"])
    assert result.exit_code != 0 and "horizon" in result.output
