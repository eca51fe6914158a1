"""Every core formula pinned by literals worked out by hand from its paper's definition (never by the code under test).

Each expected number is written out, with the arithmetic that gives it in a comment, so a reader can check it with
pencil and paper. Models here are tiny, built on real shapes; where a formula sits inside a model (an IQL target, a
LEAP loss, TT's beam score) its networks are replaced by stubs whose outputs are chosen by hand, so the formula alone
decides the number. Runs in seconds.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from minirl import dt, envs, leap, tt
from minirl.baselines import bc, cql, iql, sac
from minirl.tokenizer import (
    Discretizer,
    Normalizer,
    Tokenizer,
    returns_to_go,
    sample_windows,
    stack_episodes,
)
from minirl.transformer import Transformer, TransformerConfig

# ---------------------------------------------------------------------------------------------- return-to-go


def test_returns_to_go_discounted_by_hand():
    # gamma 0.5: R̂_2 = 3, R̂_1 = 2 + 0.5 * 3 = 3.5, R̂_0 = 1 + 0.5 * 3.5 = 2.75
    np.testing.assert_allclose(returns_to_go(np.array([1.0, 2.0, 3.0]), 0.5), [2.75, 3.5, 3.0])
    # gamma 0: R̂_t = r_t
    np.testing.assert_allclose(returns_to_go(np.array([4.0, -1.0]), 0.0), [4.0, -1.0])


def test_returns_to_go_of_a_one_step_episode_is_its_reward():
    out = returns_to_go(np.array([5.0]), 0.9)
    assert out.dtype == np.float32 and out.tolist() == [5.0]


def test_episode_arrays_scale_rtg_and_drop_the_final_observation():
    ep = {
        "observations": np.array([[0.0], [2.0], [4.0]], np.float32),  # T = 2 steps, 3 observations
        "actions": np.array([[0.1], [0.2]], np.float32),
        "rewards": np.array([10.0, 30.0], np.float32),
    }
    tok = Tokenizer("halfcheetah", False, 1, Normalizer(np.array([1.0]), np.array([2.0])), 10.0)
    arrays = tok.episode_arrays(ep)
    # (x - 1) / 2 of the first two observations only
    np.testing.assert_allclose(arrays["states"], [[-0.5], [0.5]])
    # R̂ = [40, 30] / rtg_scale 10
    np.testing.assert_allclose(arrays["rtg"], [4.0, 3.0])
    assert arrays["timesteps"].tolist() == [0, 1]


# ---------------------------------------------------------------------------------------------- normalizer


def test_normalizer_by_hand_and_a_constant_dimension_stays_finite():
    x = np.array([[0.0, 7.0], [4.0, 7.0]])  # mean [2, 7], population std [2, 0]
    norm = Normalizer.fit(x)
    np.testing.assert_allclose(norm.mean, [2.0, 7.0])
    # (6 - 2) / 2 = 2; the constant column: (7 - 7) / 1e-6 = 0
    np.testing.assert_allclose(norm.encode(np.array([[6.0, 7.0]])), [[2.0, 0.0]])
    np.testing.assert_allclose(norm.decode(np.array([[-1.0, 0.0]])), [[0.0, 7.0]])


# ---------------------------------------------------------------------------------------------- discretizer


def test_uniform_bins_by_hand():
    # 0, 1, ..., 10 in 4 bins: edges 0, 2.5, 5, 7.5, 10
    d = Discretizer.fit(np.arange(11.0)[:, None], 4, "uniform")
    np.testing.assert_allclose(d.edges, [[0, 2.5, 5, 7.5, 10]])
    # each bin's value is the mean of its data: {0,1,2} 1, {3,4} 3.5, {5,6,7} 6, {8,9,10} 9
    np.testing.assert_allclose(d.centers, [[1.0, 3.5, 6.0, 9.0]])
    # a value on an edge belongs to the bin it opens; the top edge to the last bin; outside values clip
    x = np.array([[-1.0], [0.0], [2.49], [2.5], [5.0], [7.49], [7.5], [10.0], [11.0]])
    assert d.encode(x).ravel().tolist() == [0, 0, 0, 1, 2, 2, 3, 3, 3]
    np.testing.assert_allclose(d.decode(np.array([[0], [3], [1]])), [[1.0], [9.0], [3.5]])


def test_quantile_bins_by_hand_and_an_empty_bin_decodes_to_its_midpoint():
    # quantiles 0, 0.5, 1 of 0, 1, 2, 3: 0, 1.5, 3; bins {0, 1} -> 0.5 and {2, 3} -> 2.5
    d = Discretizer.fit(np.array([[0.0], [1.0], [2.0], [3.0]]), 2, "quantile")
    np.testing.assert_allclose(d.edges, [[0.0, 1.5, 3.0]])
    np.testing.assert_allclose(d.centers, [[0.5, 2.5]])
    # uniform edges 0, 2.5, 5, 7.5, 10 over 0, 0, 10: bins 1 and 2 hold nothing -> midpoints 3.75, 6.25
    e = Discretizer.fit(np.array([[0.0], [0.0], [10.0]]), 4, "uniform")
    np.testing.assert_allclose(e.centers, [[0.0, 3.75, 6.25, 10.0]])


def test_each_dimension_uses_its_own_bins():
    # column 0: 0..10 in 4 bins (edges 0, 2.5, 5, 7.5, 10); column 1: 100..200 (edges 100, 125, 150, 175, 200)
    x = np.stack([np.arange(11.0), 100 + 10 * np.arange(11.0)], 1)
    d = Discretizer.fit(x, 4, "uniform")
    assert d.encode(np.array([[5.0, 185.0]])).tolist() == [[2, 3]]
    # bin 1 of column 0 holds {3, 4}; bin 1 of column 1 holds {130, 140}
    np.testing.assert_allclose(d.decode(np.array([[1, 1]])), [[3.5, 135.0]])
    # leading batch dimensions
    assert d.encode(np.array([[[5.0, 185.0]], [[0.0, 100.0]]])).tolist() == [[[2, 3]], [[0, 0]]]


# ---------------------------------------------------------------------------------------------- D4RL normalization


def test_halfcheetah_reference_returns_are_d4rls():
    # D4RL's infos.py: REF_MIN_SCORE['halfcheetah-random-v0'] = -280.178953, REF_MAX_SCORE = 12135.0
    spec = envs.ENVS["halfcheetah"]
    assert spec.ref_min_score == -280.178953 and spec.ref_max_score == 12135.0


@pytest.mark.parametrize(
    "ret, score",
    [
        (-280.178953, 0.0),
        (12135.0, 100.0),
        (5927.4105235, 50.0),  # the midpoint of the two
        # 100 * (4000 + 280.178953) / (12135 + 280.178953) = 428017.8953 / 12415.178953 = 34.47537
        (4000.0, 34.475371),
    ],
)
def test_normalized_score_by_hand(ret, score):
    assert envs.normalized_score("halfcheetah", ret) == pytest.approx(score, abs=1e-5)
    assert envs.normalized_score("halfcheetah-medium", ret) == pytest.approx(score, abs=1e-5)


def test_babyai_has_no_normalized_score():
    assert envs.normalized_score("babyai-gotolocal", 0.5) is None


# ---------------------------------------------------------------------------------------------- masks


def dependence(causal, padding=None, T=3):
    """(T, T) bool: output i of a one-layer transformer depends on input j (its Jacobian block is not zero). A
    masked key gets probability exactly 0, so its block is exactly 0: the pattern IS the attention mask."""
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(n_layer=1, n_head=2, d_model=8, dropout=0.0)).eval()
    x = torch.randn(1, T, 8)
    jac = torch.autograd.functional.jacobian(
        lambda x: model(x, causal, padding), x
    )  # (1, T, 8, 1, T, 8)
    return (jac[0, :, :, 0].abs().sum((1, 3)) > 0).tolist()


def test_causal_mask_by_hand():
    assert dependence(True) == [[True, False, False], [True, True, False], [True, True, True]]


def test_causal_and_padding_mask_by_hand():
    # token 0 is padding: hidden from everyone, but it still sees itself (so its row stays finite)
    assert dependence(True, torch.tensor([[False, True, True]])) == [
        [True, False, False],
        [False, True, False],
        [False, True, True],
    ]


def test_bidirectional_padding_mask_by_hand():
    # token 2 is padding: no query sees it but itself; it (a query whose output no loss reads) sees every key
    assert dependence(False, torch.tensor([[True, True, False]])) == [
        [True, True, False],
        [True, True, False],
        [True, True, True],
    ]
    assert dependence(False) == [[True] * 3] * 3


# ---------------------------------------------------------------------------------------------- DT


def tiny_dt(discrete=False, **overrides):
    S, A = (172, 7) if discrete else (3, 2)
    tok = Tokenizer(
        "babyai-gotoredball" if discrete else "halfcheetah",
        discrete,
        A,
        None if discrete else Normalizer(np.zeros(S), np.ones(S)),
        rtg_scale=1.0 if discrete else 10.0,
    )
    cfg = dt.Config(
        **dict(dict(n_layer=2, n_head=2, d_model=16, dropout=0.0, context_len=4), **overrides)
    )
    torch.manual_seed(0)
    model = dt.Model(cfg, tok).eval()
    with torch.no_grad():  # weights large enough that every input visibly moves every output
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model, tok, cfg


def dt_window(B=2, K=4, S=3, A=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "rtg": torch.randn(B, K, generator=g),
        "states": torch.randn(B, K, S, generator=g),
        "actions": torch.rand(B, K, A, generator=g) * 2 - 1,
        "timesteps": torch.arange(K).repeat(B, 1) + 5,
        "mask": torch.ones(B, K, dtype=torch.bool),
    }


KEYS = ("rtg", "states", "actions", "timesteps", "mask")


def test_dt_token_layout_is_rtg_state_action_per_step():
    """Token 3t is R̂_t, 3t+1 is s_t, 3t+2 is a_t (each with its timestep embedding), as dt.Model documents."""
    model, _, _ = tiny_dt()
    w = dt_window()
    seen = {}
    hook = model.transformer.register_forward_pre_hook(lambda m, args: seen.update(x=args[0]))
    with torch.no_grad():
        model(*(w[k] for k in KEYS))
        hook.remove()
        time = model.embed_timestep(w["timesteps"])
        parts = [
            model.embed_return(w["rtg"][..., None]) + time,
            model.embed_state(w["states"]) + time,
            model.embed_action(w["actions"]) + time,
        ]
        for j, part in enumerate(parts):  # tokens j, j + 3, j + 6, ...
            torch.testing.assert_close(seen["x"][:, j::3], model.embed_ln(part))


def changed(w, key, t):
    out = {k: v.clone() for k, v in w.items()}
    out[key][:, t] = out[key][:, t] * -2 + 0.7
    return out


@torch.no_grad()
def test_dt_reads_the_action_at_s_t_which_sees_rtg_t_and_s_t_but_not_a_t():
    model, _, _ = tiny_dt()
    w = dt_window()
    base = model(*(w[k] for k in KEYS))
    t = 2
    for key, moves in (("rtg", True), ("states", True), ("actions", False)):
        moved = (model(*(changed(w, key, t)[k] for k in KEYS))[:, t] - base[:, t]).abs().max()
        assert (moved > 1e-4) == moves, (key, float(moved))


@torch.no_grad()
def test_dt_left_padded_window_gives_the_real_steps_the_outputs_of_the_short_window():
    """A window of 2 real steps left-padded to K = 4 must predict, at its real steps, exactly what the 2-step window
    predicts alone (DT's only position signal is the timestep, so padding is invisible when masked right), whatever
    the padded steps hold."""
    model, _, _ = tiny_dt()
    w = dt_window()
    w["mask"][:, :2] = False
    short = model(*(w[k][:, 2:] for k in KEYS[:4]))
    padded = model(*(w[k] for k in KEYS))
    torch.testing.assert_close(padded[:, 2:], short, rtol=1e-5, atol=1e-5)
    garbage = {k: v.clone() for k, v in w.items()}
    garbage["states"][:, :2] = 50.0
    garbage["rtg"][:, :2] = -50.0
    torch.testing.assert_close(
        model(*(garbage[k] for k in KEYS))[:, 2:], short, rtol=1e-5, atol=1e-5
    )


@torch.no_grad()
def test_dt_loss_is_the_mean_over_real_steps_only():
    model, _, _ = tiny_dt()
    w = dt_window()
    w["mask"][0, :3] = False  # window 0 has 1 real step, window 1 has 4
    preds = model(*(w[k] for k in KEYS))
    # 5 real steps × 2 action dims
    by_hand = ((preds[0, 3] - w["actions"][0, 3]) ** 2).sum() + (
        (preds[1] - w["actions"][1]) ** 2
    ).sum()
    assert model.loss(w).item() == pytest.approx(by_hand.item() / 10, rel=1e-5)
    w["actions"][0, :3] = 100.0  # padded steps' actions never count
    assert model.loss(w).item() == pytest.approx(by_hand.item() / 10, rel=1e-5)


@torch.no_grad()
def test_dt_discrete_loss_is_cross_entropy_over_real_steps():
    model, _, _ = tiny_dt(discrete=True)
    g = torch.Generator().manual_seed(0)
    w = {
        "rtg": torch.rand(2, 4, generator=g),
        "states": torch.randint(0, 4, (2, 4, 172), generator=g),
        "actions": torch.randint(0, 7, (2, 4), generator=g),
        "timesteps": torch.arange(4).repeat(2, 1),
        "mask": torch.tensor([[False, False, True, True], [True, True, True, True]]),
    }
    logits = model(*(w[k] for k in KEYS))
    log_p = logits.log_softmax(-1).gather(-1, w["actions"][..., None])[..., 0]  # (2, 4)
    assert model.loss(w).item() == pytest.approx(-log_p[w["mask"]].mean().item(), rel=1e-5)


def test_dt_sample_batch_left_pads_a_one_step_episode():
    """An episode of length 1 with K = 3: every window is [pad, pad, step 0]."""
    ep = {
        "observations": np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], np.float32),
        "actions": np.array([[0.5, -0.5]], np.float32),
        "rewards": np.array([7.0], np.float32),
    }
    tok = Tokenizer("halfcheetah", False, 2, Normalizer(np.zeros(3), np.ones(3)), 10.0)
    cfg = dt.Config(context_len=3, batch_size=4)
    batch = dt.sample_batch(dt.prepare([ep], tok, cfg), cfg, np.random.default_rng(0))
    assert batch["mask"].tolist() == [[False, False, True]] * 4
    torch.testing.assert_close(batch["states"][:, -1], torch.tensor([[1.0, 2.0, 3.0]] * 4))
    torch.testing.assert_close(batch["rtg"], torch.tensor([[0.0, 0.0, 0.7]] * 4))
    assert (batch["states"][:, :2] == 0).all() and (batch["actions"][:, :2] == 0).all()


def test_windows_of_a_short_episode_hold_its_last_steps_in_order():
    """T = 3 steps, K = 5: a window starting at step s holds steps s … 2, ending at the episode's last step."""
    states = np.array([[10.0], [20.0], [30.0]], np.float32)
    arrays = [{"states": states, "timesteps": np.arange(3), "rewards": np.ones(3, np.float32)}]
    w = sample_windows(stack_episodes(arrays), K=5, batch_size=64, rng=np.random.default_rng(0))
    starts = set()
    for b in range(64):
        n = int(w["mask"][b].sum())
        assert w["mask"][b].tolist() == [False] * (5 - n) + [True] * n
        assert w["states"][b, 5 - n :, 0].tolist() == [10.0, 20.0, 30.0][3 - n :]
        assert w["timesteps"][b, 5 - n :].tolist() == list(range(3 - n, 3))
        starts.add(3 - n)
    assert starts == {0, 1, 2}  # every start was drawn


def test_dt_timesteps_are_capped_at_the_embedding_table():
    ep = {
        "observations": np.zeros((6, 1), np.float32),
        "actions": np.zeros((5, 1), np.float32),
        "rewards": np.ones(5, np.float32),
    }
    tok = Tokenizer("halfcheetah", False, 1, Normalizer(np.zeros(1), np.ones(1)))
    cfg = dt.Config(context_len=5, batch_size=64, max_timestep=3)
    batch = dt.sample_batch(dt.prepare([ep], tok, cfg), cfg, np.random.default_rng(1))
    full = batch["mask"].all(1)
    assert full.any() and batch["timesteps"][full].tolist()[0] == [0, 1, 2, 2, 2]


def test_dt_agent_counts_rtg_down_by_scaled_rewards():
    model, tok, _ = tiny_dt()
    agent = dt.Agent(model, tok, target_return=100.0)
    agent.reset(2)
    assert agent.current_rtg.tolist() == [10.0, 10.0]  # 100 / rtg_scale 10
    agent.act(np.zeros((2, 3), np.float32))
    agent.observe(np.array([30.0, 5.0]), np.array([False, True]))
    agent.act(np.zeros((2, 3), np.float32))
    agent.observe(np.array([20.0, 1000.0]), np.array([False, False]))  # env 1 already finished
    # env 0: (100 - 30 - 20) / 10; env 1: (100 - 5) / 10
    np.testing.assert_allclose(agent.current_rtg, [5.0, 9.5])
    assert agent.trace["rtg"][0] == pytest.approx([100.0, 70.0])


# ---------------------------------------------------------------------------------------------- TT


def tt_episode(rewards, terminations=None, truncations=None, S=1, A=1):
    T = len(rewards)
    return {
        "observations": np.arange((T + 1) * S, dtype=np.float32).reshape(T + 1, S),
        "actions": np.zeros((T, A), np.float32),
        "rewards": np.asarray(rewards, np.float32),
        "terminations": np.zeros(T, bool) if terminations is None else np.asarray(terminations),
        "truncations": np.zeros(T, bool) if truncations is None else np.asarray(truncations),
    }


def identity_tok(S=1, A=1):
    return Tokenizer("halfcheetah", False, A, Normalizer(np.zeros(S), np.ones(S)))


def test_tt_value_target_is_the_discounted_reward_after_t():
    cfg = tt.Config(discount=0.5, termination_penalty=-100.0)
    part = tt.continuous_part(
        tt_episode([1.0, 2.0, 3.0], truncations=[0, 0, 1]), identity_tok(), cfg
    )
    # columns [s, a, r, V]; V_0 = 2 + 0.5 * 3 = 3.5, V_1 = 3, V_2 = 0
    np.testing.assert_allclose(part[:, 2], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(part[:, 3], [3.5, 3.0, 0.0])
    np.testing.assert_allclose(part[:, 0], [0.0, 1.0, 2.0])  # s_t: the observations but the last


def test_tt_termination_penalty_replaces_the_terminal_reward_only_when_terminated():
    cfg = tt.Config(discount=0.5, termination_penalty=-100.0)
    terminated = tt.continuous_part(tt_episode([1.0, 2.0, 3.0], [0, 0, 1]), identity_tok(), cfg)
    # r = [1, 2, -100]: V_0 = 2 + 0.5 * -100 = -48, V_1 = -100
    np.testing.assert_allclose(terminated[:, 2], [1.0, 2.0, -100.0])
    np.testing.assert_allclose(terminated[:, 3], [-48.0, -100.0, 0.0])
    truncated = tt.continuous_part(
        tt_episode([1.0, 2.0, 3.0], truncations=[0, 0, 1]), identity_tok(), cfg
    )
    np.testing.assert_allclose(
        truncated[:, 2], [1.0, 2.0, 3.0]
    )  # a time limit is not a termination


def test_tt_one_step_episode():
    cfg = tt.Config(discount=0.99, termination_penalty=None)
    part = tt.continuous_part(tt_episode([4.0], [1]), identity_tok(), cfg)
    np.testing.assert_allclose(part, [[0.0, 0.0, 4.0, 0.0]])


def tiny_tt(S=2, A=1, N=4, seed=0):
    """An untrained tiny TT whose discretizer has distinct, known bins in every column: column j holds 100 j + k
    for k = 0 … N-1 (one value per bin)."""
    values = 100.0 * np.arange(S + A + 2)[None] + np.arange(N)[:, None]  # (N, S + A + 2)
    tok = Tokenizer(
        "halfcheetah",
        False,
        A,
        Normalizer(np.zeros(S), np.ones(S)),
        discretizer=Discretizer.fit(values, N, "uniform"),
    )
    cfg = tt.Config(N=N, n_layer=1, n_head=1, d_model=8, dropout=0.0, seq_len=3)
    torch.manual_seed(seed)
    return tt.Model(cfg, tok), tok


def test_tt_loss_weights_each_token_kind_and_skips_padding():
    model, _ = tiny_tt()
    # per dimension of a transition [s¹, s², a, r, V]: states 1, actions 5, reward 1, value 1
    assert model.weights.tolist() == [1.0, 1.0, 5.0, 1.0, 1.0]
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 4, (2, 15), generator=g)  # 3 transitions of 5 tokens
    mask = torch.ones(2, 15, dtype=torch.bool)
    mask[1, 10:] = False  # window 1's last transition is padding
    with torch.no_grad():
        hidden = model(tokens[:, :-1])
        dims = torch.arange(1, 15) % 5
        nll = -model.logits(hidden, dims).log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]
        w = torch.tensor([1.0, 1.0, 5.0, 1.0, 1.0])[dims]  # weights of the predicted tokens
        real = mask[:, 1:].float()
        by_hand = (nll * w * real).sum() / real.sum()  # 14 + 9 real targets
        assert model.loss({"tokens": tokens, "mask": mask}).item() == pytest.approx(by_hand.item())
        # what the padding holds never counts
        junk = tokens.clone()
        junk[1, 10:] = (junk[1, 10:] + 1) % 4
        assert model.loss({"tokens": junk, "mask": mask}).item() == pytest.approx(by_hand.item())


class FakeDecoder:
    """Stands in for TT's decoder in `expand_beams`, which asks it for the action's one token (obs_dim 1, act_dim 1),
    then r, then V: every action bin is equally likely (so the copies sample different actions), and the reward and
    value bins are certain and equal to the action's bin a, so a copy that sampled bin a expects r = r_centers[a]
    and V = V_centers[a]."""

    def __init__(self, r_centers, V_centers, discount, N=4):
        self.model = type(
            "M",
            (),
            {
                "act_dim": 1,
                "rv_centers": torch.tensor([r_centers, V_centers], dtype=torch.float64),
                "cfg": type("C", (), {"discount": discount})(),
            },
        )()
        self.N, self.calls = N, 0

    def __call__(self, x):
        kind, self.calls = self.calls % 3, self.calls + 1  # 0: the action, 1: r, 2: V
        logits = torch.zeros(len(x), self.N, dtype=torch.float64)
        if kind == 0:
            return logits
        action = x[
            :, -kind
        ]  # the action token: the last one (before r) or the one before it (before V)
        return logits.scatter(1, action[:, None], 60.0)

    def branch(self, copies, length):
        pass

    def select(self, index):
        pass


R_CENTERS, V_CENTERS = [0.0, 2.0, 1.0, 4.0], [0.0, 8.0, 4.0, 10.0]  # r + 0.5 V by bin: 0, 6, 3, 9


def test_tt_beam_score_is_discounted_rewards_plus_discounted_value_and_keeps_the_best():
    """Step t = 0 for two envs, one beam each copied 16 times, keeping 2: a candidate that sampled bin a scores
    r_0 + γ V_0 = R_CENTERS[a] + 0.5 V_CENTERS[a]."""
    decoder = FakeDecoder(R_CENTERS, V_CENTERS, 0.5)
    x = torch.zeros(2, 1, dtype=torch.long)  # each env: its current state's one token
    rewards = torch.zeros(2, 3, dtype=torch.float64)
    new_x, new_rewards, scores = tt.expand_beams(
        decoder, x, rewards, 0, 2, 16, 2, 0.0, torch.Generator().manual_seed(0)
    )
    assert new_x.shape == (4, 4)  # [s, a, r, V] for 2 envs x 2 beams
    actions = new_x[:, 1].tolist()
    by_hand = [R_CENTERS[a] + 0.5 * V_CENTERS[a] for a in actions]
    assert scores.flatten().tolist() == by_hand
    # bin 3 (score 9) is among 16 draws of each env: the best beam of each env holds it
    assert scores[:, 0].tolist() == [9.0, 9.0] and (scores[:, 0] >= scores[:, 1]).all()
    # r_0 into column 0, V_0 into column 1, and the tokens appended are their bins
    assert new_rewards[:, 0].tolist() == [R_CENTERS[a] for a in actions]
    assert new_rewards[:, 1].tolist() == [V_CENTERS[a] for a in actions]
    assert new_x[:, 2].tolist() == actions and new_x[:, 3].tolist() == actions


def test_tt_beam_score_at_a_later_step_discounts_by_the_step():
    """At step t = 1 a plan that already expects r_0 = 1 scores r_0 + γ r_1 + γ² V_1."""
    decoder = FakeDecoder(R_CENTERS, V_CENTERS, 0.5)
    x = torch.zeros(1, 5, dtype=torch.long)  # [s, a, r, V, s]
    rewards = torch.tensor(
        [[1.0, 99.0, 0.0]], dtype=torch.float64
    )  # column 1 (V_0) is overwritten by r_1
    _, new_rewards, scores = tt.expand_beams(
        decoder, x, rewards, 1, 1, 16, 1, 0.0, torch.Generator().manual_seed(0)
    )
    # best bin 3: 1 + 0.5 * 4 + 0.25 * 10 = 5.5
    assert scores.tolist() == [[5.5]]
    assert new_rewards.tolist() == [[1.0, 4.0, 10.0]]


# ---------------------------------------------------------------------------------------------- LEAP


def tiny_leap(discrete=False, **overrides):
    if discrete:
        tok = Tokenizer("babyai-gotoredball", True, 7)
    else:
        tok = Tokenizer(
            "halfcheetah",
            False,
            1,
            Normalizer(np.zeros(2), np.ones(2)),
            discretizer=Discretizer.fit(np.arange(3.0)[:, None], 3, "uniform"),
        )
    cfg = leap.Config(
        **dict(dict(horizon=3, n_bins=3, n_layer=1, n_head=1, d_model=8, dropout=0.0), **overrides)
    )
    torch.manual_seed(0)
    return leap.Model(cfg, tok), tok, cfg


# LEAP conditionals chosen by hand, one row per plan position: p(a_0), p(a_1), p(a_2) over V = 3 actions
HAND_P = torch.tensor([[0.5, 0.25, 0.25], [0.25, 0.5, 0.25], [0.1, 0.1, 0.8]])


def fake_leap_forward(model, seen=None):
    """A LEAP forward whose prediction at a [MASK] position i is HAND_P[i] and at a visible position is certain of
    the visible token: the energy and the losses are then functions of the hand table alone."""

    def forward(states, plan, real=None, capture_attention=False, repeats=1):
        if seen is not None:
            seen.append((plan.clone(), None if real is None else real.clone()))
        V = model.vocab
        masked = plan == model.mask_id
        certain = torch.nn.functional.one_hot(plan.clamp(max=V - 1), V).double() * 200.0 - 100.0
        hand = HAND_P[: plan.shape[1]].log().double().expand(len(plan), -1, -1)
        return torch.where(masked[..., None], hand, certain)

    return forward


def test_leap_energy_by_hand():
    model, _, _ = tiny_leap()
    model.forward = fake_leap_forward(model)
    states = torch.zeros(2, 2)
    plans = torch.tensor([[0, 1, 2], [2, 0, 0]])
    # -(ln 0.5 + ln 0.5 + ln 0.8) = 2 ln 2 - ln 0.8;  -(ln 0.25 + ln 0.25 + ln 0.1) = 4 ln 2 + ln 10
    expected = [2 * math.log(2) - math.log(0.8), 4 * math.log(2) + math.log(10)]
    torch.testing.assert_close(
        model.energy(states, plans), torch.tensor(expected, dtype=torch.float64)
    )


def test_leap_refine_step_remasks_the_highest_energy_token_and_reports_the_energy_before():
    model, _, cfg = tiny_leap(resample="max_energy", temperature=0.0)
    model.forward = fake_leap_forward(model)
    new, energy = model.refine_step(torch.zeros(1, 2), torch.tensor([[2, 0, 0]]))
    # token energies ln 4, ln 4, ln 10: token 2 is re-filled with its likeliest action, 2
    assert new.tolist() == [[2, 0, 2]]
    assert energy.item() == pytest.approx(4 * math.log(2) + math.log(10))


def test_leap_acting_first_rules_out_end_at_step_one_only():
    model, _, _ = tiny_leap(discrete=True)
    log_p = torch.zeros(1, 3, model.vocab)
    out = model.acting_first(log_p)
    assert out[0, 0, model.end_id] == -math.inf and (out[0, 0, : model.end_id] == 0).all()
    assert (out[0, 1:] == 0).all() and (
        log_p == 0
    ).all()  # later steps may end; the input is untouched


@pytest.mark.parametrize("objective", ["uniform_k", "one"])
def test_leap_loss_scores_only_the_hidden_tokens(objective):
    """With predictions certain at visible tokens and uniform at hidden real ones, the masked-LM loss is exactly ln V
    per hidden token: scoring a visible token would pull it below ln 3, scoring a padded one would move it off."""
    model, _, cfg = tiny_leap()
    if not hasattr(cfg, "objective") and objective == "one":
        pytest.skip("this LEAP has no 'one' objective")
    if hasattr(cfg, "objective"):
        model.cfg = dataclasses.replace(cfg, objective=objective)
    seen = []
    base = fake_leap_forward(model, seen)

    def forward(states, plan, real=None, capture_attention=False, repeats=1):
        logits = base(states, plan, real)
        hidden = (plan == model.mask_id)[..., None]
        padding = torch.zeros_like(hidden) if real is None else ~real[..., None]
        # a hidden real token: uniform (ln 3 nats); a hidden padding token: sure of bin 0 (0 or 200 nats)
        sure = torch.tensor([100.0, -100.0, -100.0], dtype=logits.dtype)
        return torch.where(hidden, torch.where(padding, sure, torch.zeros_like(logits)), logits)

    model.forward = forward
    g = torch.Generator().manual_seed(0)
    real = torch.ones(64, 3, dtype=torch.bool)
    real[:32, 2] = False  # padding at the end of half the plans
    real[:8, 1:] = False  # plans with a single real token
    batch = {
        "states": torch.zeros(64, 2),
        "plan": torch.randint(0, 3, (64, 3), generator=g),
        "real": real,
    }
    torch.manual_seed(0)
    assert model.loss(batch).item() == pytest.approx(math.log(3))
    if (
        objective == "uniform_k"
    ):  # padding is never hidden, and every plan hides at least one real token
        ((plan, _),) = seen
        hidden = plan == model.mask_id
        assert not (hidden & ~real).any() and hidden.any(1).all()
        assert (hidden.sum(1) == 1)[:8].all()  # a plan of one real token hides exactly that one


def babyai_episode(T, terminated):
    return {
        "image": np.zeros((T + 1, 7, 7, 3), np.uint8),
        "direction": np.zeros(T + 1, np.int64),
        "mission": "go to the red ball",
        "actions": np.arange(1, T + 1, dtype=np.int64),
        "rewards": np.zeros(T, np.float32),
        "terminations": np.array([False] * (T - 1) + [terminated]),
        "truncations": np.array([False] * (T - 1) + [not terminated]),
    }


def leap_plans(episodes, tok, horizon=3):
    cfg = leap.Config(horizon=horizon, batch_size=64)
    batch = leap.sample_batch(leap.prepare(episodes, tok, cfg), cfg, np.random.default_rng(0))
    return {(tuple(p), tuple(r)) for p, r in zip(batch["plan"].tolist(), batch["real"].tolist())}


def test_leap_plans_past_a_terminated_end_hold_END_and_past_a_truncation_are_padding():
    tok = Tokenizer("babyai-gotoredball", True, 7)
    END = 7
    # actions 1, 2 then success: plans from step 0 and step 1
    assert leap_plans([babyai_episode(2, True)], tok) == {
        ((1, 2, END), (True, True, True)),
        ((2, END, END), (True, True, True)),
    }
    # the same steps cut by the time limit: the unknown future is padding, not an ending
    assert {r for _, r in leap_plans([babyai_episode(2, False)], tok)} == {
        (True, True, False),
        (True, False, False),
    }
    # an episode of one step
    assert leap_plans([babyai_episode(1, True)], tok) == {((1, END, END), (True, True, True))}


# ---------------------------------------------------------------------------------------------- BC: pairing


def test_transitions_pair_each_state_with_its_action_and_next_state_and_done_means_terminated():
    tok = identity_tok(S=1, A=1)
    episodes = [
        {  # truncated by the time limit: its last state is still bootstrapped
            "observations": np.array([[0.0], [1.0], [2.0]], np.float32),
            "actions": np.array([[10.0], [11.0]], np.float32),
            "rewards": np.array([0.5, 0.6], np.float32),
            "terminations": np.array([False, False]),
            "truncations": np.array([False, True]),
        },
        {  # terminated after one step
            "observations": np.array([[5.0], [6.0]], np.float32),
            "actions": np.array([[20.0]], np.float32),
            "rewards": np.array([0.7], np.float32),
            "terminations": np.array([True]),
            "truncations": np.array([False]),
        },
    ]
    t = bc.transitions(episodes, tok)
    assert t["states"].ravel().tolist() == [0.0, 1.0, 5.0]
    assert t["actions"].ravel().tolist() == [10.0, 11.0, 20.0]
    assert t["next_states"].ravel().tolist() == [1.0, 2.0, 6.0]
    np.testing.assert_allclose(t["rewards"], [0.5, 0.6, 0.7])
    assert t["dones"].tolist() == [0.0, 0.0, 1.0]
    batch = bc.sample_batch(
        bc.prepare(episodes, tok, None), bc.Config(batch_size=32), np.random.default_rng(0)
    )
    # rows stay together: action = 10 + state (first episode) or 20 (the second)
    a, s = batch["actions"][:, 0], batch["states"][:, 0]
    assert torch.all((a == 10 + s) | ((s == 5) & (a == 20)))


def test_bc_loss_by_hand():
    model = bc.Model(bc.Config(hidden=4), identity_tok(S=1, A=2))
    model.policy = Const(torch.tensor([[0.0, 0.0], [100.0, -100.0]]))  # tanh -> [0, 0], [1, -1]
    batch = {"states": torch.zeros(2, 1), "actions": torch.tensor([[0.5, 0.5], [0.0, -1.0]])}
    # ((0.25 + 0.25) + (1 + 0)) / 4 entries
    assert model.loss(batch).item() == pytest.approx(1.5 / 4)


# ---------------------------------------------------------------------------------------------- IQL


class Const(nn.Module):
    """A stub network returning a fixed tensor, whatever its inputs."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, *inputs):
        return self.value


class FirstColumn(nn.Module):
    """A stub V(s): the first coordinate of each state, (B, 1)."""

    def forward(self, states):
        return states[:, :1].double()


def iql_model(**overrides):
    cfg = iql.Config(**dict(dict(hidden=4, gamma=0.5, expectile=0.7, beta=3.0), **overrides))
    model = iql.Model(cfg, identity_tok(S=1, A=1))
    model.value = FirstColumn()
    return model


def iql_batch():
    return {
        "states": torch.tensor([[1.0], [2.0]]),
        "actions": torch.zeros(2, 1),
        "rewards": torch.tensor([1.0, 1.0], dtype=torch.float64),
        "next_states": torch.tensor([[10.0], [20.0]]),
        "dones": torch.tensor([0.0, 1.0], dtype=torch.float64),
    }


def test_iql_value_loss_is_the_expectile_of_q_target_minus_v():
    model = iql_model()
    model.q1_target = Const(torch.tensor([3.0, 1.0], dtype=torch.float64))
    model.q2_target = Const(torch.tensor([4.0, 0.5], dtype=torch.float64))
    model.q1 = model.q2 = Const(torch.zeros(2, dtype=torch.float64))
    model.policy.log_prob = lambda s, a: torch.tensor([-1.0, -2.0], dtype=torch.float64)
    model.loss(iql_batch())
    # Q' = min = [3, 0.5], V(s) = [1, 2]: u = [2, -1.5]; tau 0.7: (0.7 * 4 + 0.3 * 2.25) / 2 = 1.7375
    assert model.losses["value"].item() == pytest.approx(1.7375)
    # weights exp(3 * 2) = 403 clipped to 100, exp(3 * -1.5) = exp(-4.5); -(100 * -1 + exp(-4.5) * -2) / 2
    assert model.losses["policy"].item() == pytest.approx((100 + 2 * math.exp(-4.5)) / 2)


def test_iql_q_target_bootstraps_v_of_the_next_state_unless_terminated():
    model = iql_model()
    model.q1_target = model.q2_target = Const(torch.zeros(2, dtype=torch.float64))
    model.q1 = Const(torch.tensor([0.0, 1.0], dtype=torch.float64))
    model.q2 = Const(torch.tensor([6.0, 0.0], dtype=torch.float64))
    model.policy.log_prob = lambda s, a: torch.zeros(2, dtype=torch.float64)
    model.loss(iql_batch())
    # y = r + 0.5 (1 - done) V(s') = [1 + 0.5 * 10, 1] = [6, 1]
    # Q1 = [0, 1]: ((6 - 0)² + 0) / 2 = 18;  Q2 = [6, 0]: (0 + 1) / 2 = 0.5;  mean of the two: 9.25
    assert model.losses["q"].item() == pytest.approx(9.25)


def test_iql_targets_follow_by_polyak_averaging():
    model = iql.Model(iql.Config(hidden=4, target_update_rate=0.25), identity_tok())
    with torch.no_grad():
        for p in model.q1.parameters():
            p.fill_(1.0)
        for p in model.q1_target.parameters():
            p.fill_(0.0)
    model.after_step()
    # 0.75 * 0 + 0.25 * 1
    assert all(torch.all(p == 0.25) for p in model.q1_target.parameters())


# ---------------------------------------------------------------------------------------------- CQL


class TableQ(nn.Module):
    """A stub discrete Q(s) -> (B, A): row states[:, 0] of a fixed table."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.tensor(table, dtype=torch.float64)

    def forward(self, states):
        return self.table[states[:, 0]]


def test_discrete_cql_double_dqn_target_and_exact_penalty():
    tok = Tokenizer("babyai-gotoredball", True, 3)
    model = cql.Model(cql.Config(hidden=4, gamma=0.5, cql_alpha=2.0), tok)
    # state 0: Q = [0, ln 3, 0]; state 1 (the next state): the online net prefers action 0, the target scores it 4
    model.q = TableQ([[0.0, math.log(3.0), 0.0], [5.0, 1.0, 0.0]])
    model.q_target = TableQ([[0.0, 0.0, 0.0], [4.0, 9.0, 2.0]])
    states = torch.zeros(2, 172, dtype=torch.long)
    next_states = torch.ones(2, 172, dtype=torch.long)
    batch = {
        "states": states,
        "actions": torch.tensor([1, 0]),
        "rewards": torch.tensor([1.0, 1.0], dtype=torch.float64),
        "next_states": next_states,
        "dones": torch.tensor([0.0, 1.0], dtype=torch.float64),
    }
    total = model.loss(batch)
    # y = [1 + 0.5 * 4, 1] = [3, 1]; Q(s, a) = [ln 3, 0]: ((3 - ln 3)² + 1) / 2
    bellman = ((3 - math.log(3)) ** 2 + 1) / 2
    # log(1 + 3 + 1) - [ln 3, 0]: (ln 5 - ln 3 + ln 5) / 2
    penalty = (2 * math.log(5) - math.log(3)) / 2
    assert model.losses["bellman"].item() == pytest.approx(bellman)
    assert model.losses["cql_penalty"].item() == pytest.approx(penalty)
    assert total.item() == pytest.approx(bellman + 2.0 * penalty)


class FixedActor(nn.Module):
    """A stub squashed-Gaussian actor: sample() gives the action 0.5 with log-density ln 0.5, always."""

    def sample(self, obs):
        B = len(obs)
        return (
            torch.full((B, 1), 0.5),
            torch.full((B,), math.log(0.5)),
            torch.full((B, 1), 0.5),
        )


class ZeroCritic(nn.Module):
    def forward(self, obs, act):
        return torch.zeros(len(obs)) * act.sum(-1)


def test_continuous_cql_importance_sampled_penalty_by_hand():
    """With every Q = 0 and A = 1, n = 1: the uniform action's density is 1/2, the policy's 1/2 too, so each of the
    3 sampled Q - log density is ln 2 and the penalty is ln(3 · 2) - 0 per critic; the Bellman target is r."""
    model = cql.Model(cql.Config(hidden=4, cql_n_actions=1), identity_tok(S=1, A=1))
    model.actor = FixedActor()
    model.q1, model.q2 = ZeroCritic(), ZeroCritic()
    model.q1_target, model.q2_target = ZeroCritic(), ZeroCritic()
    batch = {
        "states": torch.zeros(2, 1),
        "actions": torch.zeros(2, 1),
        "rewards": torch.tensor([1.0, 3.0]),
        "next_states": torch.zeros(2, 1),
        "dones": torch.tensor([0.0, 1.0]),
    }
    model.loss(batch)
    assert model.losses["cql_penalty"].item() == pytest.approx(2 * math.log(6), rel=1e-6)
    # two critics, each (1² + 3²) / 2
    assert model.losses["bellman"].item() == pytest.approx(10.0)


# ---------------------------------------------------------------------------------------------- SAC


def test_sac_critic_target_by_hand():
    obs, actions = torch.zeros(2, 1), torch.zeros(2, 1)
    batch = (obs, actions, torch.tensor([1.0, 2.0]), torch.zeros(2, 1), torch.tensor([0.0, 1.0]))
    targets = [Const(torch.tensor([3.0, 5.0])), Const(torch.tensor([4.0, 1.0]))]
    critics = [Const(torch.zeros(2)), Const(torch.ones(2))]
    loss = sac.critic_loss(batch, None, torch.tensor([-1.0, 2.0]), critics, targets, 0.5, 0.9)
    # min Q' = [3, 1]; soft value 3 - 0.5 * -1 = 3.5 (env 1 is terminal); y = [1 + 0.9 * 3.5, 2] = [4.15, 2]
    # critic 0 (Q = 0): (4.15² + 2²) / 2; critic 1 (Q = 1): (3.15² + 1²) / 2
    assert loss.item() == pytest.approx((4.15**2 + 4) / 2 + (3.15**2 + 1) / 2, rel=1e-6)


def test_sac_replay_buffer_done_is_termination_not_truncation():
    buffer = sac.ReplayBuffer(4, 1, 1)
    obs = np.arange(4, dtype=np.float32)[:, None]
    buffer.add(
        obs,
        np.zeros((4, 1)),
        np.arange(4),
        obs + 1,
        np.array([False, True, False, False]),
        np.array([False, False, True, False]),
        np.zeros(4),
    )
    o, a, r, o_next, done = buffer.sample(64, np.random.default_rng(0))
    assert torch.equal(done, (o[:, 0] == 1).float())  # only row 1 terminated
    assert torch.equal(r, o[:, 0]) and torch.equal(o_next, o + 1)  # rows stay whole


def test_sac_squashed_gaussian_log_prob_matches_the_change_of_variables():
    """log π(a|s) = Σ log N(u; μ, σ) - Σ log(1 - tanh(u)²) for a = tanh(u) (SAC's appendix C), against
    torch.distributions."""
    torch.manual_seed(0)
    actor = sac.Actor(3, 2, 8)
    obs = torch.randn(5, 3)
    torch.manual_seed(1)
    action, log_prob, mean_action = actor.sample(obs)
    mu, log_std = actor(obs)
    torch.manual_seed(1)
    u = mu + log_std.exp() * torch.randn_like(mu)
    expected = torch.distributions.Normal(mu, log_std.exp()).log_prob(u) - torch.log(
        1 - torch.tanh(u) ** 2 + 1e-6
    )
    torch.testing.assert_close(action, torch.tanh(u))
    torch.testing.assert_close(log_prob, expected.sum(-1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(mean_action, torch.tanh(mu))


def test_sac_polyak_update_moves_targets_by_tau():
    learner = sac.SAC(sac.Config(hidden=4, tau=0.25), 1, 1, np.array([-1.0]), np.array([1.0]))
    with torch.no_grad():
        for p in learner.critic_target.parameters():
            p.fill_(0.0)
    online = [p.detach().clone() for p in learner.critic.parameters()]
    obs = torch.zeros(4, 1)
    learner.update((obs, torch.zeros(4, 1), torch.zeros(4), obs, torch.zeros(4)))
    # target = 0 + 0.25 (online after this update - 0): each target is exactly a quarter of its online weights
    for p, t in zip(learner.critic.parameters(), learner.critic_target.parameters()):
        torch.testing.assert_close(t, 0.25 * p)
    assert any(not torch.equal(a, b) for a, b in zip(online, learner.critic.parameters()))
