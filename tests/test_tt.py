"""Trajectory Transformer (minirl/tt.py): tokens, causality, learning, exact cached beam search, and planning that pays.

Real data at tiny sizes: 3000 random HalfCheetah steps and 30 BabyAI bot demonstrations, collected into this module's
own Minari folder. The cached planner is checked against `plan_uncached`, which recomputes the whole view for every
token: same seed, same plans.
"""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from minirl import data, tt
from minirl.envs import get_spec, make_env, quiet
from minirl.train import fit, make_config

TINY = {
    "n_layer": 2,
    "n_head": 2,
    "d_model": 32,
    "seq_len": 3,
    "batch_size": 32,
    "dropout": 0.0,
    "lr": 3e-3,
    "warmup_steps": 20,
}


@pytest.fixture(scope="module", autouse=True)
def datasets(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("tt_minari")))
        data.collect("halfcheetah-random", steps=3000, seed=0, progress=False)
        data.collect("babyai-gotoredball", episodes=30, seed=0, progress=False)
        yield


def setup(name, **overrides):
    """-> (episodes, tokenizer, config, prepared data, untrained model) for a dataset and a tiny config."""
    eps = data.load(name)
    cfg = make_config(tt, dict(TINY, **overrides), name)
    tok = tt.make_tokenizer(eps, get_spec(name), cfg)
    torch.manual_seed(0)
    return eps, tok, cfg, tt.prepare(eps, tok, cfg), tt.Model(cfg, tok)


# ---------------------------------------------------------------------------------------------- tokens


def test_discretizer_round_trip_stays_in_the_bin():
    eps, tok, cfg, _, _ = setup("halfcheetah-random", N=100)
    # (3000, 25) = [s, a, r, V]
    values = np.concatenate([tt.continuous_part(ep, tok, cfg) for ep in eps])
    ids = tok.discretizer.encode(values)
    decoded = tok.discretizer.decode(ids)
    edges, cols = tok.discretizer.edges, np.arange(values.shape[1])
    assert values.shape[1] == 17 + 6 + 2 and ids.min() >= 0 and ids.max() < 100
    assert np.all(decoded >= edges[cols, ids] - 1e-5) and np.all(
        decoded <= edges[cols, ids + 1] + 1e-5
    )
    # decoding lands back in the same bin
    np.testing.assert_array_equal(tok.discretizer.encode(decoded), ids)
    # quantile bins: ~30 points each
    counts = np.stack([np.bincount(ids[:, j], minlength=100) for j in range(23)])
    assert counts.min() >= 20 and counts.max() <= 40


def test_a_transition_is_one_token_per_dimension_and_V_is_the_discounted_reward_to_go():
    eps, tok, cfg, _, model = setup("halfcheetah-random")
    part = tt.continuous_part(eps[0], tok, cfg)
    r, V = part[:, -2], part[:, -1]
    np.testing.assert_allclose(V[:-1], r[1:] + cfg.discount * V[1:], rtol=1e-4, atol=1e-4)
    assert tt.episode_tokens(eps[0], tok, cfg).shape == (1000, 25) and model.transition_dim == 25
    beps, btok, bcfg, _, bmodel = setup("babyai-gotoredball")
    # [OBSERVED, a, r, V]: the state is conditioning, not a token
    ids = tt.episode_tokens(beps[0], btok, bcfg)
    assert ids.shape == (len(beps[0]["actions"]), 4) and bmodel.transition_dim == 4
    np.testing.assert_array_equal(ids[:, 1], beps[0]["actions"])
    # success ends BabyAI episodes
    assert (ids[:, 0] == tt.OBSERVED).all() and bcfg.termination_penalty is None


@torch.no_grad()
def test_causality_and_value_tokens_are_invisible():
    _, _, cfg, prepared, model = setup("halfcheetah-random")
    model.eval()
    tokens = tt.sample_batch(prepared, cfg, np.random.default_rng(0))["tokens"][:1, :-1]  # (1, 74)
    dims = torch.arange(1, tokens.shape[1] + 1) % 25
    logits = model.logits(model(tokens), dims)
    j = 30  # a state token of the second transition: only outputs at positions >= j may change
    changed = tokens.clone()
    changed[0, j] = (changed[0, j] + 7) % 100
    diff = (model.logits(model(changed), dims) - logits).abs().amax(-1)[0]  # (74,)
    assert diff[:j].max() == 0 and diff[j:].max() > 0
    # the first value token: no query attends to it, so only its own output (predicting s¹) may change
    v = 24
    changed = tokens.clone()
    changed[0, v] = (changed[0, v] + 50) % 100
    diff = (model.logits(model(changed), dims) - logits).abs().amax(-1)[0]
    assert diff[v] > 0 and diff[:v].max() == 0 and diff[v + 1 :].max() == 0


# ---------------------------------------------------------------------------------------------- learning


@pytest.mark.parametrize(
    "name, steps, factor",
    [
        # quantile bins make every marginal uniform (no unigram shortcut) and the random actions are noise (5/8 of the
        # weighted loss at the start), so on this data the loss falls only as the model learns the dynamics: slowly
        ("halfcheetah-random", 100, 0.96),
        ("babyai-gotoredball", 60, 0.6),
    ],
)
def test_training_loss_falls_on_real_data(name, steps, factor, tmp_path):
    _, _, cfg, prepared, model = setup(name, steps=steps, lr_schedule="constant")
    batches = [tt.sample_batch(prepared, cfg, np.random.default_rng(i)) for i in range(3)]
    with torch.no_grad():
        before = np.mean([model.loss(b).item() for b in batches])
    fit(
        model,
        lambda rng: tt.sample_batch(prepared, cfg, rng),
        cfg,
        tmp_path,
        {"algo": "tt"},
        progress=False,
    )
    with torch.no_grad():
        after = np.mean([model.loss(b).item() for b in batches])
    assert after < factor * before, (before, after)


# ---------------------------------------------------------------------------------------------- planning


@pytest.mark.parametrize("name", ["halfcheetah-random", "babyai-gotoredball"])
def test_cached_planner_returns_exactly_the_reference_plans(name):
    """Float64 so that cache and recomputation agree to ~1e-15; 3 envs at once (their real context is cached once per
    env, shared by its beams); horizon 4 with a 2-transition view makes the view slide (and the cache re-encode)
    inside the plan."""
    _, _, cfg, prepared, model = setup(name)
    model.double()
    batch = tt.sample_batch(prepared, cfg, np.random.default_rng(0))
    td = model.transition_dim
    # 3 envs, one past transition and the current state
    prefix = batch["tokens"][:3, : td + model.obs_dim]
    states = batch["states"][:3, :2] if "states" in batch else None
    options = dict(beam_width=4, horizon=4, n_expand=2, max_context_transitions=2)
    fast = tt.plan(model, prefix, states, generator=torch.Generator().manual_seed(1), **options)
    slow = tt.plan_uncached(
        model, prefix, states, generator=torch.Generator().manual_seed(1), **options
    )
    assert fast[0].shape == (3, 4 * td - model.obs_dim)
    torch.testing.assert_close(fast[0], slow[0], rtol=0, atol=0)
    torch.testing.assert_close(fast[1], slow[1], rtol=1e-12, atol=1e-12)
    other = tt.plan(model, prefix, states, generator=torch.Generator().manual_seed(2), **options)
    assert not torch.equal(other[0], fast[0])  # the seed matters, so equality above is not vacuous


@pytest.mark.parametrize("name", ["halfcheetah-random", "babyai-gotoredball"])
def test_batched_planning_for_n_envs_equals_n_separate_plans_with_the_same_seeds(name):
    """One generator per env: an env's plan does not depend on the other envs planned in the same batch (float64, so
    that a batch of 3 and a batch of 1 compute the same numbers to ~1e-15)."""
    _, _, cfg, prepared, model = setup(name)
    model.double()
    batch = tt.sample_batch(prepared, cfg, np.random.default_rng(0))
    td = model.transition_dim
    prefix = batch["tokens"][:3, : td + model.obs_dim]
    states = batch["states"][:3, :2] if "states" in batch else None
    options = dict(beam_width=4, horizon=4, n_expand=2, max_context_transitions=2)
    together = tt.plan(
        model,
        prefix,
        states,
        generator=[torch.Generator().manual_seed(10 + i) for i in range(3)],
        **options,
    )
    for i in range(3):
        alone = tt.plan(
            model,
            prefix[i : i + 1],
            None if states is None else states[i : i + 1],
            generator=[torch.Generator().manual_seed(10 + i)],
            **options,
        )
        torch.testing.assert_close(alone[0][0], together[0][i], rtol=0, atol=0)
        torch.testing.assert_close(alone[1][0], together[1][i], rtol=1e-12, atol=1e-12)


def test_plan_flops_counts_every_matmul_of_the_cached_planner():
    """The floor of `minirl bench speed` comes from the shapes alone; torch's FlopCounterMode, run on the planner
    itself (attention through the math kernel, which it can count), must find the same number, once the masked
    spare room its one-token steps multiply is counted (spare=True). That spare room is not part of the floor."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.utils.flop_counter import FlopCounterMode

    _, _, cfg, prepared, model = setup("halfcheetah-random")
    # 2 past + current
    prefix = tt.sample_batch(prepared, cfg, np.random.default_rng(0))["tokens"][:2, : 2 * 25 + 17]
    options = dict(beam_width=3, horizon=3, n_expand=2, max_context_transitions=3)
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        tt.plan(model, prefix, generator=torch.Generator().manual_seed(0), **options)
    done = tt.plan_flops(model, 2, prefix.shape[1], spare=True, **options)
    assert counter.get_total_flops() == done
    # the floor: every token against only the keys it may see; the spare room adds a few percent at this tiny size
    floor = tt.plan_flops(model, 2, prefix.shape[1], **options)
    assert floor < done < 1.1 * floor


def test_tiny_tt_plans_better_than_random_actions_on_halfcheetah(tmp_path):
    """Random data holds no behaviour to imitate, so the weights favour the reward token (5) over the actions (1) and
    the planner looks one step ahead: it picks, among 16 sampled actions, the one with the best predicted r + γV.
    Measured margin on 3 training seeds: -5 ± 1 against -42 (random), 4 envs × 100 steps."""
    _, tok, cfg, prepared, model = setup(
        "halfcheetah-random",
        N=20,
        seq_len=2,
        steps=300,
        reward_weight=5.0,
        action_weight=1.0,
        warmup_steps=0,
        lr_schedule="constant",
    )
    fit(
        model,
        lambda rng: tt.sample_batch(prepared, cfg, rng),
        cfg,
        tmp_path,
        {"algo": "tt"},
        progress=False,
    )
    agent = tt.Agent(model, tok, beam_width=16, horizon=1, max_context_transitions=2)
    rng = np.random.default_rng(0)
    random_returns = episode_returns(lambda obs: rng.uniform(-1, 1, (len(obs), 6)))
    agent.reset(4)
    tt_returns = episode_returns(lambda obs: agent.act(tok.encode_obs(obs)), agent.observe)
    assert tt_returns.mean() > random_returns.mean() + 15, (tt_returns, random_returns)
    assert len(agent.trace["plan_ms"]) == 100


def episode_returns(act, observe=None, n_envs=4, steps=100):
    """Returns of n_envs HalfCheetah episodes (seeds 100, 101, ...), cut at `steps`."""
    with quiet():
        envs = [make_env("halfcheetah") for _ in range(n_envs)]
        obs = [e.reset(seed=100 + i)[0] for i, e in enumerate(envs)]
    returns = np.zeros(n_envs)
    for _ in range(steps):
        actions, rewards = act(obs), np.zeros(n_envs)
        for i, e in enumerate(envs):
            obs[i], rewards[i], *_ = e.step(actions[i])
        returns += rewards
        if observe:
            observe(rewards, np.zeros(n_envs, bool))
    return returns


def test_cli_trains_and_evaluates_tt_on_babyai(tmp_path):
    runner = CliRunner()
    run = tmp_path / "tt-babyai"
    sets = [f"--set={k}={v}" for k, v in TINY.items()]
    result = runner.invoke(
        app,
        [
            "train",
            "tt",
            "--dataset",
            "babyai-gotoredball",
            "--steps",
            "30",
            "--out",
            str(run),
            "--device",
            "cpu",
            "--quiet",
            *sets,
        ],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["eval", str(run), "--episodes", "3", "--beam-width", "4", "--horizon", "2", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    (out,) = json.loads((run / "eval.json").read_text())["runs"]
    assert out["options"]["beam_width"] == 4 and out["options"]["horizon"] == 2
    assert 0.0 <= out["success_rate"] <= 1.0 and len(out["returns"]) == 3
    assert len(out["trace"]["plan_ms"]) == max(out["lengths"])
    # any EvalOptions field through --set, checked against its declared range; the others keep their defaults
    sets = ["--set", "n_expand=1", "--set", "max_context_transitions=2", "--set", "k_obs=3"]
    result = runner.invoke(app, ["eval", str(run), "--episodes", "1", "--quiet", *sets])
    assert result.exit_code == 0, result.output
    (out,) = json.loads((run / "eval.json").read_text())["runs"]
    assert out["options"] == dict(
        beam_width=32, horizon=5, n_expand=1, cdf_act=0.6, k_obs=3, max_context_transitions=2
    )
    # out of range, out of range, not an evaluation option
    for bad in ("n_expand=0", "cdf_act=1", "lr=1e-3"):
        result = runner.invoke(app, ["eval", str(run), "--episodes", "1", "--set", bad])
        assert result.exit_code == 1 and f"--set {bad.split('=')[0]}" in result.output, (
            result.output
        )
