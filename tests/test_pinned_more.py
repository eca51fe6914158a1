"""More formulas and paths pinned by independently known values: what docs/scripts/mutate.py's planted bugs showed
the other pinned tests (test_formulas.py, test_optim.py, test_paths.py) let through (issue 22).

Each expected value is worked out by hand, taken from a paper's or its official code's definition, or computed by an
independent route (one forward pass per masked token instead of the batched copies; the fused attention kernel
instead of the explicit softmax; the whole sequence at once instead of a token at a time through the cache).
Tiny sizes, fixed seeds; the whole file runs in a few seconds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from minirl import data, dt, envs, leap, tt
from minirl.baselines import bc, cql, sac
from minirl.tokenizer import (
    GRID_CELLS,
    Discretizer,
    Normalizer,
    Tokenizer,
    sample_windows,
    stack_episodes,
)
from minirl.transformer import KVCache, Transformer, TransformerConfig


def cheetah_tok(S=3, A=2, rtg_scale=1.0):
    return Tokenizer("halfcheetah", False, A, Normalizer(np.zeros(S), np.ones(S)), rtg_scale)


def visibly_random_(model: nn.Module, std: float = 0.3) -> nn.Module:
    """Weights large enough that every input visibly moves every output (the init's 0.02 makes them ~equal)."""
    torch.manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, std)
    return model.eval()


# ---------------------------------------------------------------------------------------------- windows


def test_windows_draw_every_step_equally_often_so_episodes_in_proportion_to_their_length():
    """DT's official sampler draws an episode with p = its length / total length (p_sample = traj_lens / sum), then
    a uniform start: every step of the data is equally likely. Episodes of 1 and 9 steps: the 1-step one starts
    1/10 of the windows (uniform episodes would give it 1/2)."""
    arrays = [
        {"states": np.array([[0.0]], np.float32), "rewards": np.ones(1, np.float32)},
        {
            "states": np.arange(1.0, 10.0, dtype=np.float32)[:, None],
            "rewards": np.ones(9, np.float32),
        },
    ]
    w = sample_windows(stack_episodes(arrays), K=1, batch_size=4000, rng=np.random.default_rng(0))
    counts = np.bincount(w["states"][:, 0, 0].numpy().astype(int), minlength=10)
    # each of the 10 steps: binomial(4000, 0.1), mean 400, std 19
    assert counts.min() > 320 and counts.max() < 480, counts.tolist()


# ---------------------------------------------------------------------------------------------- D4RL maze2d


def test_pointmaze_reference_returns_and_horizons_are_d4rls_maze2d():
    # d4rl/infos.py REF_MIN_SCORE / REF_MAX_SCORE for maze2d-{umaze,medium,large}-v1; horizons 300, 600, 800
    expected = {
        "umaze": (300, 23.85, 161.86),
        "medium": (600, 13.13, 277.39),
        "large": (800, 6.7, 273.99),
    }
    for maze, (steps, low, high) in expected.items():
        spec = envs.ENVS[f"pointmaze-{maze}"]
        assert (spec.max_steps, spec.ref_min_score, spec.ref_max_score) == (steps, low, high)
    # the midpoint of medium's two returns, (13.13 + 277.39) / 2 = 145.26, scores 50
    assert envs.normalized_score("pointmaze-medium", 145.26) == pytest.approx(50.0)


# ---------------------------------------------------------------------------------------------- transformer


def tiny_transformer():
    torch.manual_seed(0)
    return Transformer(TransformerConfig(n_layer=2, n_head=2, d_model=8, dropout=0.0)).eval()


@torch.no_grad()
def test_kv_cache_decoding_gives_the_outputs_of_one_causal_pass():
    """The cache's promise: feeding a sequence in pieces (1 token, then 3, then 1) gives the whole pass's outputs."""
    model = tiny_transformer()
    x = torch.randn(2, 5, 8, generator=torch.Generator().manual_seed(1))
    whole = model(x, causal=True)
    cache = KVCache(2)
    pieces = [model(x[:, a:b], causal=True, cache=cache) for a, b in ((0, 1), (1, 4), (4, 5))]
    torch.testing.assert_close(torch.cat(pieces, 1), whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("causal", [True, False])
@torch.no_grad()
def test_captured_attention_gives_the_fused_kernels_outputs_and_masked_keys_get_zero(causal):
    """The explicit softmax kept for analysis must compute what F.scaled_dot_product_attention computes."""
    model = tiny_transformer()
    x = torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(1))
    padding = torch.tensor(
        [[True, True, True, True], [False, True, True, True]]
    )  # row 1: token 0 padded
    fused = model(x, causal, padding)
    model.capture_attention()
    explicit = model(x, causal, padding)
    probs = model.attention_maps()[0]  # (2, H, 4, 4)
    model.capture_attention(False)
    torch.testing.assert_close(explicit, fused, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2, 2, 4))
    assert (probs[1, :, 1:, 0] == 0).all()  # no query but itself sees the padded token
    if causal:
        assert (probs.triu(1) == 0).all()  # nothing sees a later token


# ---------------------------------------------------------------------------------------------- DT acting


@torch.no_grad()
def test_dt_agent_acts_on_the_prediction_at_the_newest_state_of_the_window_it_built():
    """After steps 0 and 1 (rewards 30, 20; target 100, rtg_scale 10) the agent's window holds R̂ = 10, 7, 5, the
    three states, the two actions it took and a placeholder 0 for the newest, timesteps 0, 1, 2: its action is the
    model's output at the newest state token of exactly that window."""
    tok = cheetah_tok(rtg_scale=10.0)
    model = visibly_random_(dt.Model(dt.Config(n_layer=1, n_head=1, d_model=8, context_len=4), tok))
    agent = dt.Agent(model, tok, target_return=100.0)
    agent.reset(1)
    states = np.random.default_rng(0).normal(size=(3, 1, 3)).astype(np.float32)
    actions = []
    for t, reward in enumerate([30.0, 20.0, None]):
        actions.append(agent.act(states[t]))
        if reward is not None:
            agent.observe(np.array([reward]), np.array([False]))
    window = (
        torch.tensor([[10.0, 7.0, 5.0]]),
        torch.from_numpy(states[:, 0])[None],
        torch.from_numpy(np.stack([actions[0][0], actions[1][0], np.zeros(2, np.float32)]))[None],
        torch.tensor([[0, 1, 2]]),
    )
    torch.testing.assert_close(torch.from_numpy(actions[2]), model(*window)[:, -1])
    first = model(*(part[:, :1] for part in window[:2]), torch.zeros(1, 1, 2), window[3][:, :1])
    torch.testing.assert_close(torch.from_numpy(actions[0]), first[:, -1])


# ---------------------------------------------------------------------------------------------- TT


def test_tt_trains_on_no_babyai_state_token():
    """BabyAI's state slot in TT is a placeholder (OBSERVED / UNOBSERVED) standing for the embedded observation, so
    its loss weight is 0; actions 5, reward and value 1 (the official action_weight, reward_weight, value_weight)."""
    tok = Tokenizer("babyai-gotoredball", True, 7)
    tok.discretizer = Discretizer.fit(np.array([[0.0, 0.0], [1.0, 2.0]]), 8, "uniform")
    model = tt.Model(tt.Config(N=8, n_layer=1, n_head=1, d_model=8, seq_len=2), tok)
    assert model.weights.tolist() == [0.0, 5.0, 1.0, 1.0]


def test_tt_value_tokens_are_hidden_from_every_query():
    """The official GPT masks earlier value estimates: mask[:, joined_dim - 1 :: joined_dim] = 0. Transitions of
    td = 5 tokens [s¹, s², a, r, V]: keys 4, 9, ... are hidden, the reward tokens 3, 8 are not."""
    tok = cheetah_tok(S=2, A=1)
    tok.discretizer = Discretizer.fit(np.random.default_rng(0).normal(size=(20, 5)), 4)
    model = tt.Model(tt.Config(N=4, n_layer=1, n_head=1, d_model=8, seq_len=3), tok)
    assert model.visible_keys(0, 10).tolist() == [[True] * 4 + [False] + [True] * 4 + [False]]
    # a view that starts at the second transition (position 5) still hides its value tokens (position 9)
    assert model.visible_keys(5, 12).tolist() == [[True] * 4 + [False] + [True] * 2]


# ---------------------------------------------------------------------------------------------- LEAP


def tiny_leap(discrete=False, horizon=3):
    if discrete:
        tok = Tokenizer("babyai-gotoredball", True, 7)
    else:
        tok = cheetah_tok(S=2, A=1)
        tok.discretizer = Discretizer.fit(np.arange(3.0)[:, None], 3, "uniform")
    cfg = leap.Config(horizon=horizon, n_bins=3, n_layer=1, n_head=1, d_model=8, dropout=0.0)
    torch.manual_seed(0)
    return leap.Model(cfg, tok)


@torch.no_grad()
def test_leap_conditionals_are_one_forward_pass_per_masked_token():
    """p(a_i | s, τ_-i) by its definition: hide token i alone, one forward pass, read position i; for each i."""
    model = visibly_random_(tiny_leap())
    states = torch.randn(2, 2, generator=torch.Generator().manual_seed(1))
    plan = torch.tensor([[0, 1, 2], [2, 2, 0]])
    batched = model.conditionals(states, plan)  # (2, 3, V)
    for i in range(3):
        alone = plan.clone()
        alone[:, i] = model.mask_id
        torch.testing.assert_close(batched[:, i], model(states, alone)[:, i].log_softmax(-1))


@torch.no_grad()
def test_leap_padded_plan_tokens_change_nothing_the_real_ones_predict():
    """A plan of 2 real tokens padded to 3 predicts, at its real tokens, what the 2-token plan predicts alone
    (positions embed the same, and the padding is hidden), whatever the padded token holds."""
    model = visibly_random_(tiny_leap())
    states = torch.randn(2, 2, generator=torch.Generator().manual_seed(1))
    short = model(states, torch.tensor([[0, 3], [2, 1]]))  # 3 = [MASK]
    real = torch.tensor([[True, True, False]] * 2)
    for filler in (0, 2):
        plan = torch.tensor([[0, 3, filler], [2, 1, filler]])
        torch.testing.assert_close(model(states, plan, real)[:, :2], short)


@torch.no_grad()
def test_leap_refinement_never_writes_end_into_the_executed_step():
    """A one-step plan whose model likes [END] best (logit 5) and action 3 next (logit 2): the refill of the step
    that will be executed must be action 3, never [END]."""
    model = tiny_leap(discrete=True, horizon=1)

    def forward(states, plan, real=None, capture_attention=False, repeats=1):
        logits = torch.zeros(len(plan), plan.shape[1], model.vocab)
        logits[..., model.end_id], logits[..., 3] = 5.0, 2.0
        return logits

    model.forward = forward
    for resample in ("random", "max_energy"):
        new, _ = model.refine_step(
            torch.zeros(2, 172, dtype=torch.long), torch.tensor([[0], [5]]), None, 0.0, resample
        )
        assert new.tolist() == [[3], [3]]


# ---------------------------------------------------------------------------------------------- CQL, continuous


class StateQ(nn.Module):
    """A stub critic Q(s, a) = scale · s[:, 0], whatever the action."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, obs, act):
        return self.scale * obs[:, 0] + 0.0 * act.sum(-1)


class FixedActor(nn.Module):
    """A stub actor over 2 action dimensions: sample() gives the action (0.5, 0.5) with log-density -1, always."""

    def sample(self, obs):
        B = len(obs)
        return torch.full((B, 2), 0.5), torch.full((B,), -1.0), torch.full((B, 2), 0.5)


def test_continuous_cql_terms_by_hand_with_two_action_dimensions():
    """A = 2, n = 1, γ = 0.5, α_cql = 2. Critics Q(s, a) = 10 s, targets Q' = 2, the policy's log-density -1.

    Bellman: y = r + γ (1 - done) Q' = [1 + 0.5 · 2, 3] = [2, 3] against Q(s, a) = [0, 10]: per critic
    ((0 - 2)² + (10 - 3)²) / 2 = 26.5, two critics 53.
    Penalty: the uniform action's log-density is A ln 0.5 = -2 ln 2 (so Q + 2 ln 2), the two policy samples' -1
    (Q + 1 each), all scored at their own state: log(4 e^Q + 2 e^(Q+1)) - Q = ln(4 + 2e) per state and critic.
    Actor: mean(α log π - min Q) = mean(-1 - [0, 10]) = -6 (α = 1); temperature loss 0 (log α = 0)."""
    model = cql.Model(
        cql.Config(hidden=4, gamma=0.5, cql_alpha=2.0, cql_n_actions=1), cheetah_tok(1, 2)
    )
    model.actor = FixedActor()
    model.q1, model.q2 = StateQ(10.0), StateQ(10.0)
    model.q1_target, model.q2_target = StateQ(0.0), StateQ(0.0)
    model.q1_target.forward = model.q2_target.forward = lambda obs, act: torch.full(
        (len(obs),), 2.0
    )
    batch = {
        "states": torch.tensor([[0.0], [1.0]]),
        "actions": torch.zeros(2, 2),
        "rewards": torch.tensor([1.0, 3.0]),
        "next_states": torch.tensor([[5.0], [5.0]]),
        "dones": torch.tensor([0.0, 1.0]),
    }
    total = model.loss(batch)
    penalty = 2 * math.log(4 + 2 * math.e)
    assert model.losses["bellman"].item() == pytest.approx(53.0)
    assert model.losses["cql_penalty"].item() == pytest.approx(penalty, rel=1e-6)
    assert model.losses["actor"].item() == pytest.approx(-6.0)
    assert total.item() == pytest.approx(53.0 + 2.0 * penalty - 6.0, rel=1e-6)


# ---------------------------------------------------------------------------------------------- BC, BabyAI


def test_babyai_transitions_pair_each_state_with_the_next_observation():
    """Observation t holds the value t in every grid cell and faces direction t % 4: state t has t, next state t+1."""
    T = 3
    episode = {
        "image": np.arange(T + 1, dtype=np.uint8)[:, None, None, None]
        * np.ones((1, 7, 7, 3), np.uint8),
        "direction": np.arange(T + 1, dtype=np.int64) % 4,
        "mission": "go to the red ball",
        "actions": np.array([2, 0, 1]),
        "rewards": np.array([0.0, 0.0, 0.9], np.float32),
        "terminations": np.array([False, False, True]),
        "truncations": np.zeros(T, bool),
    }
    t = bc.transitions([episode], Tokenizer("babyai-gotoredball", True, 7))
    assert t["states"][:, 0].tolist() == [0, 1, 2] and t["next_states"][:, 0].tolist() == [1, 2, 3]
    assert t["states"][:, GRID_CELLS].tolist() == [0, 1, 2]
    assert t["next_states"][:, GRID_CELLS].tolist() == [1, 2, 3]
    assert t["actions"].tolist() == [2, 0, 1] and t["dones"].tolist() == [0.0, 0.0, 1.0]
    # the mission words follow the direction: go(3) to(4) the(14) red(21) ball(18)
    assert t["next_states"][0, GRID_CELLS + 1 : GRID_CELLS + 6].tolist() == [3, 4, 14, 21, 18]


# ---------------------------------------------------------------------------------------------- collectors


def test_replay_buffer_is_cut_into_episodes_by_hand(tmp_path):
    """Six rows of one vector env (obs -> next_obs, action, reward, terminated, truncated):
    0 -> 1     a0  10  .  .
    1 -> 2     a1  11  .  T     episode A ends: the time limit
    2 -> 100   a2   0  .  .     the autoreset row (starts at A's last observation): no transition
    100 -> 101 a3  13  T  .     episode B: one step, terminated
    101 -> 200 a4   0  .  .     autoreset again
    200 -> 201 a5  15  .  .     episode C, unfinished when the buffer ends: kept, marked truncated"""
    obs = np.array([0, 1, 2, 100, 101, 200], np.float32)[:, None]
    np.savez(
        tmp_path / "buffer.npz",
        obs=obs,
        next_obs=np.array([1, 2, 100, 101, 200, 201], np.float32)[:, None],
        actions=np.arange(6, dtype=np.float32)[:, None],
        rewards=np.array([10, 11, 0, 13, 0, 15], np.float32),
        terminations=np.array([0, 0, 0, 1, 0, 0], bool),
        truncations=np.array([0, 1, 0, 0, 0, 0], bool),
    )
    episodes = data._replay_episodes(tmp_path / "buffer.npz")
    got = [
        (
            ep["observations"][:, 0].tolist(),
            ep["actions"][:, 0].tolist(),
            ep["rewards"].tolist(),
            ep["terminations"].tolist(),
            ep["truncations"].tolist(),
        )
        for ep in episodes
    ]
    assert got == [
        ([0, 1, 2], [0, 1], [10, 11], [False, False], [False, True]),
        ([100, 101], [3], [13], [True], [False]),
        ([200, 201], [5], [15], [False], [True]),
    ]


def test_babyai_episodes_end_terminated_on_success_and_truncated_at_the_time_limit(
    tmp_path, monkeypatch
):
    """BabyAI gives a reward > 0 exactly on success, which terminates; GoToRedBall's limit is 64 steps. Random
    actions (noise 1) mostly run out of time: those episodes last 64 steps and end truncated, not terminated."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    data.collect("babyai-gotoredball", episodes=4, seed=0, noise=1.0, progress=False)
    episodes = data.load("babyai-gotoredball")
    assert len(episodes) == 4
    outcomes = set()
    for ep in episodes:
        T, success = len(ep["rewards"]), bool(ep["rewards"][-1] > 0)
        assert ep["terminations"].tolist() == [False] * (T - 1) + [success]
        assert ep["truncations"].tolist() == [False] * (T - 1) + [not success]
        assert success or T == 64
        outcomes.add(success)
    assert False in outcomes  # the time limit was reached at least once


# ---------------------------------------------------------------------------------------------- SAC


class Const(nn.Module):
    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, *inputs):
        return self.value


def test_sac_target_stops_at_a_termination():
    """y = r + γ (1 - done) (min Q' - α log π): env 1 terminated, so its target is its reward alone, 2, though its
    next state's soft value is 5 - 0.5 · 0 = 5; env 0: 1 + 0.9 · 3 = 3.7. Two critics at 0: 2 · (3.7² + 2²) / 2."""
    obs, actions = torch.zeros(2, 1), torch.zeros(2, 1)
    batch = (obs, actions, torch.tensor([1.0, 2.0]), torch.zeros(2, 1), torch.tensor([0.0, 1.0]))
    targets = [Const(torch.tensor([3.0, 5.0])), Const(torch.tensor([4.0, 6.0]))]
    critics = [Const(torch.zeros(2)), Const(torch.zeros(2))]
    loss = sac.critic_loss(batch, None, torch.zeros(2), critics, targets, 0.5, 0.9)
    assert loss.item() == pytest.approx(3.7**2 + 2.0**2, rel=1e-6)
