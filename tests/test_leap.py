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
        data.collect("babyai-gotoredball-full", episodes=20, seed=0, progress=False)
        data.collect("halfcheetah-random", steps=3000, seed=0, progress=False)
        yield


def _setup(name: str, episodes: list, overrides: dict):
    spec = get_spec(data.env_of(name))
    cfg = train.make_config(leap, overrides, spec.name)
    tok = leap.make_tokenizer(episodes, spec, cfg)
    return spec, cfg, tok


def _train(objective: str, steps: int, tmp_path_factory):
    """A tiny LEAP trained through the shared loop on 80 GoToRedBall demos: (model, tok, cfg, held-out, losses)."""
    episodes = data.load("babyai-gotoredball")
    train_eps, held_out = episodes[:80], episodes[80:]
    spec, cfg, tok = _setup(
        "babyai-gotoredball", train_eps, dict(TINY, steps=steps, objective=objective)
    )
    prepared = leap.prepare(train_eps, tok, cfg)
    torch.manual_seed(0)
    model = leap.Model(cfg, tok)
    run_dir = tmp_path_factory.mktemp(f"leap_run_{objective}")
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


@pytest.fixture(scope="module")
def trained(datasets, tmp_path_factory):
    """k ~ Uniform{1..n} hidden tokens per plan (minirl's objective), 300 steps."""
    return _train("uniform_k", TRAIN_STEPS, tmp_path_factory)


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
    with torch.no_grad():
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


@pytest.mark.parametrize("objective", ["uniform_k", "one"])
def test_masked_lm_loss_falls_on_real_demonstrations(objective, trained, tmp_path_factory):
    """Both training objectives learn: the paper's (one position at a time) and minirl's (k ~ U{1..n})."""
    if (
        objective == "one"
    ):  # its own, shorter run (the fixture's 300 steps are the uniform_k model's)
        *_, losses = _train("one", 80, tmp_path_factory)
    else:
        *_, losses = trained
    first, last = np.mean(losses[:5]), np.mean(losses[-30:])  # one row per step; batches are noisy
    # starts near chance over 7 actions
    assert first > 0.8 * np.log(7) and last < 0.5 * first, (first, last)


def _tiny_model(episodes, **overrides):
    _, cfg, tok = _setup("babyai-gotoredball", episodes, dict(TINY, dropout=0.0, **overrides))
    torch.manual_seed(0)
    return leap.Model(cfg, tok).eval(), tok, cfg


def test_one_position_objective_is_the_pseudo_log_likelihood_of_the_data_plans(datasets):
    """objective="one": the loss is Σ_b Σ_i -log p(a_i | s, τ_-i) over the real tokens / their count, each
    conditional read from its own forward pass with only token i masked (padding hidden)."""
    episodes = data.load("babyai-gotoredball")[:5]
    model, tok, cfg = _tiny_model(episodes, objective="one", horizon=3)
    states = torch.from_numpy(tok.states(episodes[0])[:2])  # two real BabyAI states
    plan = torch.tensor([[2, 0, 2], [1, 2, 6]])  # forward, left, forward / right, forward, done
    real = torch.tensor([[True, True, True], [True, True, False]])  # plan 2's last token is padding
    pll = torch.zeros(())
    with torch.no_grad():
        for b in range(2):
            for i in range(3):
                if not real[b, i]:
                    continue
                masked = plan[b : b + 1].clone()
                masked[0, i] = model.mask_id
                log_p = model(states[b : b + 1], masked, real[b : b + 1]).log_softmax(-1)
                pll -= log_p[0, i, plan[b, i]]
        loss = model.loss({"states": states, "plan": plan, "real": real})
    torch.testing.assert_close(loss * 5, pll)  # 5 real tokens
    # an all-real plan: the loss × P is the energy E(τ) planning minimizes
    with torch.no_grad():
        one = {"states": states[:1], "plan": plan[:1], "real": real[:1]}
        torch.testing.assert_close(model.loss(one) * 3, model.energy(states[:1], plan[:1])[0])
    # a model that ignores its input and says p = (1/2, 1/4, 1/24 × 6) for ids 0, 1, 2..7: the value by hand
    with torch.no_grad():
        model.predict_action.weight.zero_()
        model.predict_action.bias.copy_(torch.log(torch.tensor([1 / 2, 1 / 4] + [1 / 24] * 6)))
        loss = model.loss({"states": states, "plan": plan, "real": real})
    # -log p of the real tokens 2, 0, 2 | 1, 2: ln 24 + ln 2 + ln 24 + ln 4 + ln 24, over 5 tokens
    assert loss.item() == pytest.approx((3 * np.log(24) + np.log(2) + np.log(4)) / 5, rel=1e-6)


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


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_untracked_planning_gives_the_same_plans_from_one_row_per_plan(trained, temperature):
    """gibbs_step reads only copy i of conditionals(): the same token i, the same refill (from the same generator
    draws) as refine_step with resample "random", at 1/P of the rows; so plan() without the energy is the same."""
    model, tok, cfg, held_out, _ = trained
    states, plan = _full_plans(held_out, tok, cfg)
    with torch.no_grad():
        slow, _ = model.refine_step(
            states, plan, torch.Generator().manual_seed(3), temperature, "random"
        )
        fast = model.gibbs_step(states, plan, torch.Generator().manual_seed(3), temperature)
        changed = (fast != plan).sum(1)
        tracked, energies = model.plan(
            states, 5, 10, torch.Generator().manual_seed(0), temperature, "random"
        )
        untracked, none = model.plan(
            states,
            5,
            10,
            torch.Generator().manual_seed(0),
            temperature,
            "random",
            track_energy=False,
        )
    assert torch.equal(fast, slow)
    assert changed.max() <= 1  # one token per plan re-filled, the others kept
    assert torch.equal(untracked, tracked) and energies.shape == (len(states), 11) and none is None
    # the agent records E only when asked
    agent = leap.Agent(model, tok, iterations=2, horizon=5)
    agent.reset(2)
    agent.act(tok.states(held_out[0])[:1].repeat(2, 0))
    assert agent.trace["energy_per_iteration"] == [] and agent.trace["planned"] == [2]


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
        energy_trace=True,
    )
    random_success = _random_policy_success("babyai-gotoredball", EVAL_EPISODES, EVAL_SEED)
    assert result["success_rate"] > random_success, (result["success_rate"], random_success)
    # one entry per decision: energy at each of the 3 + 1 stages, and the latency
    trace = result["trace"]
    assert len(trace["energy_per_iteration"]) == len(trace["latency_ms"]) == max(result["lengths"])
    assert all(len(row) == 4 for row in trace["energy_per_iteration"])


def _drive(agent, model, monkeypatch, env_name="babyai-gotoredball", seed=EVAL_SEED, **env_kwargs):
    """One real BabyAI episode acted by `agent`; model.plan is wrapped to record every plan it returns.
    Returns (actions acted, [(step, plan actions up to [END])] per planning call)."""
    calls, plan = [], model.plan

    def recording_plan(*args, **kwargs):
        out = plan(*args, **kwargs)
        calls.append((len(acted), out[0][0].tolist()))
        return out

    monkeypatch.setattr(model, "plan", recording_plan)
    env, acted = make_env(env_name, **env_kwargs), []
    agent.reset(1)
    with quiet():
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            [action] = agent.act(agent.tok.encode_obs([obs]))
            acted.append(int(action))
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
            agent.observe(np.zeros(1), np.array([done]))
    ended = [(t, p[: p.index(model.end_id)] if model.end_id in p else p) for t, p in calls]
    return acted, ended


def test_open_loop_acts_the_plan_in_order_and_replans_when_it_runs_out(trained, monkeypatch):
    model, tok, *_ = trained
    agent = leap.Agent(model, tok, iterations=2, execution="open_loop", temperature=0.0)
    acted, plans = _drive(agent, model, monkeypatch)
    assert len(plans) < len(acted)  # some plan was acted beyond its first step
    t = 0
    for (
        start,
        steps,
    ) in plans:  # each plan starts where the previous one ran out, and is acted as planned
        assert start == t and len(steps) >= 1
        assert acted[t : t + len(steps)] == steps[: len(acted) - t]
        t += len(steps)
    assert t >= len(acted)
    # replanning: a plan at every step, its step 1 acted
    agent = leap.Agent(model, tok, iterations=2, execution="replan", temperature=0.0)
    acted, plans = _drive(agent, model, monkeypatch)
    assert [start for start, _ in plans] == list(range(len(acted)))
    assert acted == [steps[0] for _, steps in plans]


def test_argmax_refinement_is_deterministic(trained):
    """temperature 0: the fill and every refill are argmaxes, so with resample="max_energy" nothing is random;
    with sampling (temperature 1) the same states get different plans from different random numbers."""
    model, tok, cfg, held_out, _ = trained
    states, _ = _full_plans(held_out, tok, cfg, n=64)

    def plans(seed, **options):
        g = torch.Generator().manual_seed(seed)
        return model.plan(states, 5, 6, g, **options)

    greedy_0, e0 = plans(0, temperature=0.0, resample="max_energy")
    greedy_1, e1 = plans(1, temperature=0.0, resample="max_energy")
    assert torch.equal(greedy_0, greedy_1) and torch.equal(e0, e1)
    # each token of the greedy plan's start is the argmax of the all-[MASK] conditionals ([END] not first)
    fill, _ = model.plan(states, 5, 0, None, 0.0)
    with torch.no_grad():
        log_p = model(states, torch.full_like(fill, model.mask_id)).log_softmax(-1)
    log_p[:, 0, model.end_id] = -float("inf")
    assert torch.equal(fill, log_p.argmax(-1))
    sampled_0, _ = plans(0, temperature=1.0)
    sampled_1, _ = plans(1, temperature=1.0)
    assert not torch.equal(sampled_0, sampled_1)


def test_paper_preset_fills_the_fields_left_unset():
    paper = train.make_config(leap, {"preset": "paper"})
    assert (paper.objective, paper.execution, paper.temperature, paper.iterations) == (
        "one",
        "open_loop",
        0.0,
        9,
    )
    mazes = train.make_config(leap, {"preset": "paper", "iterations": "29", "horizon": "10"})
    assert (mazes.iterations, mazes.horizon, mazes.objective) == (29, 10, "one")
    ours = leap.Config()
    assert all(getattr(ours, k) == v for k, v in leap.PRESETS["minirl"].items())
    # a saved run's config (all fields filled in) comes back unchanged
    assert leap.Config(**dataclasses.asdict(mazes)) == mazes


def test_halfcheetah_actions_are_one_token_per_dimension(datasets):
    episodes = data.load("halfcheetah-random")
    _, cfg, tok = _setup("halfcheetah-random", episodes, dict(TINY, horizon=2, n_bins=16))
    batch = leap.sample_batch(leap.prepare(episodes, tok, cfg), cfg, np.random.default_rng(0))
    assert batch["plan"].shape == (cfg.batch_size, 2 * 6) and int(batch["plan"].max()) < 16
    model = leap.Model(cfg, tok).eval()
    agent = leap.Agent(model, tok, iterations=2, horizon=2, energy_trace=True)
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
        (
            "babyai-gotoredball",
            [
                "--set",
                "energy_trace=true",
                "--episodes",
                "2",
                "--iterations",
                "2",
                "--horizon",
                "3",
            ],
        ),
        (
            "halfcheetah-random",
            [
                "--set",
                "energy_trace=true",
                "--episodes",
                "1",
                "--iterations",
                "1",
                "--horizon",
                "1",
            ],
        ),
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
    assert {k: v for k, v in evaluation["options"].items() if v is not None} == {
        "iterations": iterations,
        "horizon": int(eval_args[-1]),
        "energy_trace": True,
    }
    assert len(evaluation["trace"]["energy_per_iteration"][0]) == iterations + 1
    # longer than the trained plans
    result = runner.invoke(app, ["eval", str(run), "--horizon", "4"])
    assert result.exit_code != 0 and "horizon" in result.output
    if dataset != "babyai-gotoredball":
        return
    # the paper's acting, chosen at evaluation time
    sets = ["--set", "execution=open_loop", "--set", "temperature=0"]
    result = runner.invoke(app, ["eval", str(run), "--episodes", "1", *sets])
    assert result.exit_code == 0, result.output
    [evaluation] = json.loads((run / "eval.json").read_text())["runs"]
    assert evaluation["options"]["execution"] == "open_loop"
    assert (
        evaluation["trace"]["execution"] == "open_loop" and evaluation["trace"]["temperature"] == 0
    )
    for bad in ("execution=sometimes", "lr=1e-3"):  # not a value / not an evaluation option
        result = runner.invoke(app, ["eval", str(run), "--set", bad])
        assert result.exit_code == 1 and "--set" in result.output, result.output


# ---------------------------------------------------------------------------------------------- the official parts


def _full_obs_model(**overrides):
    episodes = data.load("babyai-gotoredball-full")
    _, cfg, tok = _setup("babyai-gotoredball-full", episodes, dict(TINY, dropout=0.0, **overrides))
    torch.manual_seed(0)
    return leap.Model(cfg, tok).eval(), tok, cfg, episodes


@pytest.mark.parametrize(
    "option", [{"encoder": "paper"}, {"future_states": True}, {"timestep": "paper"}]
)
def test_official_parts_keep_conditionals_one_row_per_masked_copy(datasets, option):
    """conditionals() encodes each state once for its P masked copies (forward's `repeats`); with each official
    part switched on, that equals running every copy as a plan of its own."""
    model, tok, cfg, episodes = _full_obs_model(**option)
    batch = leap.sample_batch(leap.prepare(episodes, tok, cfg), cfg, np.random.default_rng(0))
    states, plan = batch["states"][:4], batch["plan"][:4]  # (4, S[+1]), (4, P)
    P = plan.shape[1]
    with torch.no_grad():
        fast = model.conditionals(states, plan)  # (4, P, V)
        for b in range(4):
            copies = plan[b].repeat(P, 1)
            copies[range(P), range(P)] = model.mask_id
            slow = model(states[b].expand(P, -1), copies)[range(P), range(P)].log_softmax(-1)
            torch.testing.assert_close(fast[b], slow)


def test_future_state_tokens_are_placeholders_and_actions_are_read_at_them(datasets):
    """future_states: [s, a_1, s', a_2, ...]; s' zeroes the agent's cell and direction and keeps the rest; the
    prediction for a_t comes from the state token before it, so changing a_1 (visible) changes every output."""
    model, tok, cfg, episodes = _full_obs_model(future_states=True)
    states = leap.prepare(episodes, tok, cfg)["states"][:3]
    g = tok.layout.grid_values
    place = model.placeholder(states)
    assert (place[:, g : g + 3] == 0).all()
    torch.testing.assert_close(place[:, :g], states[:, :g])
    torch.testing.assert_close(place[:, g + 3 :], states[:, g + 3 :])
    plan = torch.zeros(3, cfg.horizon, dtype=torch.long)
    assert model.token_layout(plan[0]).reads == list(range(0, 2 * cfg.horizon, 2))
    changed = plan.clone()
    changed[:, 0] = 1
    with torch.no_grad():
        assert (model(states, plan)[:, 0] - model(states, changed)[:, 0]).abs().max() > 1e-4


@pytest.mark.parametrize("timestep, offset", [("aligned", 0), ("paper", 5)])
def test_timestep_is_the_steps_acted_plus_the_official_offset(
    datasets, monkeypatch, timestep, offset
):
    """timestep: training rows carry the step's index in its episode; acting, the Agent appends the steps acted so
    far (+ the horizon, the official evaluation's offset) to the states it plans from."""
    model, tok, cfg, episodes = _full_obs_model(timestep=timestep, execution="open_loop")
    prepared = leap.prepare(episodes, tok, cfg)
    lengths = [len(ep["actions"]) for ep in episodes]
    assert prepared["states"][:, -1].tolist() == [t for n in lengths for t in range(n)]
    agent, seen, plan = leap.Agent(model, tok), [], model.plan

    def recording_plan(states, *args):
        seen.append((int(states[0, -1]), int(agent.steps[0])))
        return plan(states, *args)

    monkeypatch.setattr(model, "plan", recording_plan)
    _drive(agent, model, monkeypatch, obs="full")
    assert len(seen) > 1 and seen[0] == (offset, 0)
    assert all(t == acted + offset for t, acted in seen)


def test_episode_sampling_draws_each_demo_equally_often(datasets):
    """sampling=episode (the official one item per demo): a uniform episode, then a uniform step of it, so a short
    demo's steps are drawn more often than a long one's; sampling=step draws every step equally."""
    episodes = data.load("babyai-gotoredball")
    lengths = np.array([len(ep["actions"]) for ep in episodes])
    owner = np.repeat(np.arange(len(episodes)), lengths)  # step -> its episode
    for sampling in ("episode", "step"):
        overrides = dict(TINY, sampling=sampling, batch_size=20_000)
        _, cfg, tok = _setup("babyai-gotoredball", episodes, overrides)
        prepared = leap.prepare(episodes, tok, cfg)
        # each row its own index: the drawn start
        prepared["states"] = torch.arange(len(owner))[:, None]
        starts = leap.sample_batch(prepared, cfg, np.random.default_rng(0))["states"][:, 0].numpy()
        share = np.bincount(owner[starts], minlength=len(episodes)) / len(starts)
        if sampling == "episode":
            expected = np.full(len(episodes), 1 / len(episodes))
        else:
            expected = lengths / lengths.sum()
        assert np.abs(share - expected).max() < 0.01, sampling
