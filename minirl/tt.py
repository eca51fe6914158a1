"""Lesson 05 · Trajectory Transformer: model whole trajectories token by token, act by beam search.

Janner, Li & Levine 2021, "Offline Reinforcement Learning as One Big Sequence Modeling Problem" (arXiv:2106.02039);
settings from the official code (github.com/jannerm/trajectory-transformer, config/offline.py).

DT predicts actions only. TT models the joint distribution of everything: every dimension of the state, the action,
the reward and the value-to-go V_t = Σ_{t'>t} γ^(t'-t-1) r_t' is cut into N quantile bins and becomes ONE token,
so a transition with a d-dim state and an m-dim action is d + m + 2 tokens,

    τ = (s¹_1 … s^d_1, a¹_1 … a^m_1, r_1, V_1, s¹_2, …),        loss = -Σ_i w_i log P_θ(τ_i | τ_<i),

plain next-token cross-entropy with action tokens weighted 5×. Dimension j owns the ids j·N … j·N+N-1 and its own
output head, so bin 7 of a joint angle and bin 7 of the reward are different words. V is only ever a target: no other
token attends to a value token (at acting time the past values are unknown), as in the official code.

Acting is planning. Beam search keeps `beam_width` imagined futures per env; each step every one is copied `n_expand`
times, each copy samples an action (from its likeliest bins), the model predicts r and V, and the copies with the best
Σ_{h≤t} γ^h r_h + γ^(t+1) V_t survive; their next state is predicted, and so on to the `horizon`. The first action of
the best plan is executed, and the agent plans again at the next step. Tokens are decoded one at a time through the
shared Transformer's KV cache (`CachedDecoder`); `plan_uncached` recomputes the whole window for every token instead
and must return the same plans.

BabyAI: a state is already 172 tokens (grid, direction, mission); a 175-token transition would make every planning
step ~40× dearer, and the next egocentric view cannot be imagined cheaply anyway. So a BabyAI state is ONE conditioning
token, never predicted, embedded by the BabyAI encoder every method shares (minirl/encoders.py: the grid read in the
light of the mission). A transition is [s, a, r, V] (4 tokens, a one of 7 ids). Plans are open-loop beyond the
present: future states are a learned "unobserved" token (training hides the states after a random cut in half of
its windows), so the search imagines actions, rewards and values, not views.

Shapes: B rows (training windows, or n envs × beams while planning), T tokens, L transitions per training window,
td = d + m + 2 tokens per transition, N bins, D width, H horizon, K beam width, C transitions with a known state.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from minirl.encoders import ENCODERS, PaperEncoder, babyai_encoder
from minirl.tokenizer import (
    Discretizer,
    Normalizer,
    Tokenizer,
    returns_to_go,
)
from minirl.transformer import TokenLayout, Transformer, TransformerConfig, init_weights

# BabyAI state-slot tokens: "embed the real state here" / "a future, unseen state"
OBSERVED, UNOBSERVED = 0, 1

# ---------------------------------------------------------------------------------------------- config


@dataclass
class Config:
    """The official config/offline.py (base and HalfCheetah); planning settings are in EvalOptions."""

    N: Annotated[int, "[2, 10_000]"] = 100  # bins per dimension
    # every bin holds ~1/N of the data
    discretizer: Annotated[str, ("quantile", "uniform")] = "quantile"
    n_layer: Annotated[int, "[1, 64]"] = 4
    n_head: Annotated[int, "[1, 64]"] = 4
    d_model: Annotated[int, "[1, 8192]"] = 128  # the official n_embd = 32 per head × 4 heads
    dropout: Annotated[float, "[0, 1)"] = 0.1
    # L: transitions per training window (subsampled_sequence_length)
    seq_len: Annotated[int, "[1, 1000]"] = 10
    discount: Annotated[float, "[0, 1]"] = 0.99  # γ in V
    # replaces the reward of a real termination (None: keep it)
    termination_penalty: Annotated[float | None, "[-1e6, 1e6]"] = -100.0
    action_weight: Annotated[float, "[0, 1e6]"] = 5.0  # loss weights per token kind (states 1)
    reward_weight: Annotated[float, "[0, 1e6]"] = 1.0
    value_weight: Annotated[float, "[0, 1e6]"] = 1.0
    # BabyAI's state encoder: "minirl" (the shared BabyAIEncoder) or "paper" (the official LEAP model's CNN + BatchNorm
    # + FiLM, --obs full only; encoders.PaperEncoder), so a table can give every method the same one
    encoder: Annotated[str, ENCODERS] = "minirl"
    # training (the shared loop; the official one: AdamW, betas (0.9, 0.95), warmup 1 epoch, cosine to 10%)
    # 50 epochs of a 1M-transition dataset at batch 256 (n_epochs_ref = 50)
    steps: Annotated[int, "[1, 100_000_000]"] = 195_000
    batch_size: Annotated[int, "[1, 65_536]"] = 256
    lr: Annotated[float, "(0, 1]"] = 6e-4
    weight_decay: Annotated[float, "[0, 100]"] = 0.1
    warmup_steps: Annotated[int, "[0, 100_000_000]"] = 3_900  # one epoch of 1M transitions
    lr_schedule: Annotated[str, ("constant", "cosine")] = "cosine"
    grad_clip: Annotated[float, "(0, 1e12]"] = 1.0


def env_defaults(spec) -> dict:
    """BabyAI terminates on success, so no termination penalty; its bot demos last ~5-15 steps, so 5-transition
    windows of a half-width model (64) at batch 64 suffice: ~14 steps/s on one CPU core (the HalfCheetah size, batch
    256 over 10 transitions: < 1 step/s), so its small datasets train in a few minutes."""
    if spec.discrete:
        return {
            "termination_penalty": None,
            "steps": 3000,
            "warmup_steps": 100,
            "d_model": 64,
            "batch_size": 64,
            "seq_len": 5,
        }
    return {}


@dataclass
class EvalOptions:
    """How a trained TT plans (`minirl eval --beam-width K --horizon H`, or `--set name=value` for any field): the
    official config/offline.py's HalfCheetah plan settings (horizon 5; the base config: 15), with the beam_width 32
    it leaves commented out there in place of the base 128."""

    beam_width: Annotated[int, "[1, 1024]"] = 32  # beams kept after each planned transition
    horizon: Annotated[int, "[1, 1000]"] = 5  # transitions imagined per decision
    n_expand: Annotated[int, "[1, 1024]"] = 2  # candidates sampled from each beam per transition
    # actions are drawn from the likeliest bins, after dropping the least likely ones while their mass stays below
    # cdf_act (0.6: the top 40%; 0: every bin)
    cdf_act: Annotated[float, "[0, 1)"] = 0.6
    # imagined state dimensions come from the k_obs likeliest bins (1: the argmax; Config.N: every bin)
    k_obs: Annotated[int, "[1, 10_000]"] = 1
    # the model's view while planning, in transitions (at most the trained seq_len)
    max_context_transitions: Annotated[int, "[1, 1000]"] = 5


# ---------------------------------------------------------------------------------------------- data


def continuous_part(episode: dict, tok: Tokenizer, cfg: Config) -> np.ndarray:
    """The values the discretizer cuts into bins, (T, d + m + 2) = [s, a, r, V] (BabyAI: (T, 2) = [r, V])."""
    r = np.asarray(episode["rewards"], np.float64).copy()
    if cfg.termination_penalty is not None:
        r[np.asarray(episode["terminations"], bool)] = cfg.termination_penalty
    V = np.append(returns_to_go(r, cfg.discount)[1:], 0.0)  # V_t = r_{t+1} + γ r_{t+2} + ...
    rv = np.stack([r, V], 1)
    return rv if tok.discrete else np.concatenate([tok.states(episode), episode["actions"], rv], 1)


def make_tokenizer(episodes: list[dict], spec, cfg: Config) -> Tokenizer:
    """States normalized (HalfCheetah), then ONE discretizer fitted on every column of the concatenated transitions."""
    tok = Tokenizer.fit(episodes, spec.name, spec.discrete, spec.act_dim, gamma=cfg.discount)
    values = np.concatenate([continuous_part(ep, tok, cfg) for ep in episodes])
    tok.discretizer = Discretizer.fit(values, cfg.N, cfg.discretizer)
    return tok


def episode_tokens(episode: dict, tok: Tokenizer, cfg: Config) -> np.ndarray:
    """(T, td) int64 bin ids, one row per transition: [s¹…s^d, a¹…a^m, r, V] (BabyAI: [OBSERVED, a, r, V])."""
    ids = tok.discretizer.encode(continuous_part(episode, tok, cfg))
    if tok.discrete:
        T = len(ids)
        ids = np.concatenate(
            [np.full((T, 1), OBSERVED), np.asarray(episode["actions"]).reshape(T, 1), ids], 1
        )
    return ids.astype(np.int64)


def prepare(episodes: list[dict], tok: Tokenizer, cfg: Config) -> dict:
    """All episodes in one flat array, each followed by L-1 padding rows, so any window is a slice."""
    ids = [episode_tokens(ep, tok, cfg) for ep in episodes]
    lengths = np.array([len(x) for x in ids])
    # where each episode begins
    offsets = np.cumsum(lengths + cfg.seq_len - 1) - (lengths + cfg.seq_len - 1)

    def padded(a: np.ndarray) -> np.ndarray:
        return np.concatenate([a, np.zeros((cfg.seq_len - 1,) + a.shape[1:], a.dtype)])

    data = {
        "tokens": torch.from_numpy(np.concatenate([padded(x) for x in ids])),
        # False on padding
        "real": torch.from_numpy(np.concatenate([padded(np.ones(T, bool)) for T in lengths])),
        # any step, uniformly (numpy: the sampler's draws read it on the host)
        "starts": np.concatenate([o + np.arange(T) for o, T in zip(offsets, lengths)]),
    }
    if tok.discrete:
        data["states"] = torch.from_numpy(
            np.concatenate([padded(tok.states(ep)) for ep in episodes])
        )
    return data


def sample_batch(data: dict, cfg: Config, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """B windows of L transitions, right-padded: tokens (B, L·td), mask (B, L·td) True = real [, states (B, L, 172)],
    gathered where the data is."""
    B, L = cfg.batch_size, cfg.seq_len
    device = data["tokens"].device
    rows = rng.choice(data["starts"], B)[:, None] + np.arange(L)  # (B, L)
    rows = torch.from_numpy(rows).to(device)
    tokens = data["tokens"][rows]  # (B, L, td)
    td = tokens.shape[2]
    batch = {"mask": data["real"][rows].repeat_interleave(td, dim=1)}
    if "states" in data:  # BabyAI: half the windows hide the states from a random transition on
        cut = np.where(rng.random(B) < 0.5, rng.integers(1, L, B), L)
        tokens[:, :, 0][torch.from_numpy(np.arange(L) >= cut[:, None]).to(device)] = UNOBSERVED
        batch["states"] = data["states"][rows]
    batch["tokens"] = tokens.reshape(B, L * td)
    return batch


# ---------------------------------------------------------------------------------------------- model


class Model(nn.Module):
    """Offset token embeddings + position embeddings -> the shared causal Transformer -> one head per dimension."""

    def __init__(self, cfg: Config, tok: Tokenizer):
        super().__init__()
        self.cfg = cfg
        self.discrete = tok.discrete
        N, D = cfg.N, cfg.d_model
        self.obs_dim = 1 if tok.discrete else tok.state_size  # d: state tokens per transition
        self.act_dim = 1 if tok.discrete else tok.act_dim  # m: action tokens per transition
        self.transition_dim = td = self.obs_dim + self.act_dim + 2
        self.block_size = cfg.seq_len * td - 1  # a training window minus its last token
        self.tok_emb = nn.Embedding(td * N, D)  # dimension j uses rows j·N … j·N+N-1
        self.pos_emb = nn.Parameter(torch.zeros(self.block_size, D))
        self.drop = nn.Dropout(cfg.dropout)
        self.transformer = Transformer(
            TransformerConfig(cfg.n_layer, cfg.n_head, D, cfg.dropout, self.block_size)
        )
        # head[j]: hidden -> logits of dimension j's bins
        self.head = nn.Parameter(torch.empty(td, D, N))
        sizes = [2, tok.act_dim, N, N] if tok.discrete else [N] * td  # ids each dimension can take
        self.register_buffer(
            "valid", torch.arange(N)[None] < torch.tensor(sizes)[:, None], persistent=False
        )
        weights = [0.0 if tok.discrete else 1.0] * self.obs_dim + [cfg.action_weight] * self.act_dim
        self.register_buffer(
            "weights",
            torch.tensor(weights + [cfg.reward_weight, cfg.value_weight]),
            # (td,) loss weight per dimension; BabyAI states are not predicted
            persistent=False,
        )
        centers = torch.tensor(tok.discretizer.centers[-2:], dtype=torch.float32)
        # (2, N) values of the r and V bins
        self.register_buffer("rv_centers", centers, persistent=False)
        # BabyAI: the shared encoder (minirl/encoders.py), its output added at each state's OBSERVED token
        if tok.discrete:
            self.state_emb = babyai_encoder(tok.layout, D, cfg.encoder)
        self.apply(init_weights)
        nn.init.normal_(self.head, std=0.02)
        if isinstance(getattr(self, "state_emb", None), PaperEncoder):
            self.state_emb.reset_parameters()  # the official init, not GPT-2's

    def forward(self, tokens, start: int = 0, states=None):
        """Hidden states (B, T, D) of a whole view: `tokens` (B, T) at positions start … start+T-1 of a sequence.

        The view starts at `start` (a multiple of td), where position embeddings count from. states (B or n, C, 172):
        BabyAI observations of the sequence's first C transitions (rows repeat for the beams of one env).
        """
        x = self.embed(tokens, start, start, states)  # (B, T, D)
        visible = self.visible_keys(start, start + tokens.shape[1])
        return self.transformer(self.drop(x), causal=True, padding_mask=visible)

    def token_layout(self, T: int) -> TokenLayout:
        """What forward's T tokens are (a view opens with a transition's s¹): per transition d state, m action, one
        reward and one value token. The output at a transition's last state token predicts its a¹."""
        td, d = self.transition_dim, self.obs_dim
        kinds = ["state"] * d + ["action"] * self.act_dim + ["reward", "value"]
        return TokenLayout(
            [kinds[i % td] for i in range(T)],
            [i // td for i in range(T)],
            list(range(d - 1, T, td)),
        )

    def embed(self, tokens, first: int, window_start: int, states=None):
        """Token + position (+ BabyAI state) embeddings, (B, T, D), of tokens at positions first … first+T-1 of a
        sequence whose view starts at window_start (the cached planner feeds a view in pieces)."""
        T, td = tokens.shape[1], self.transition_dim
        pos = torch.arange(first, first + T, device=tokens.device)  # (T,) positions in the sequence
        # (B, T, D)
        x = self.tok_emb(tokens + pos % td * self.cfg.N) + self.pos_emb[pos - window_start]
        if self.discrete:
            x = x + self.embed_states(tokens, pos, states)
        return x

    def visible_keys(self, window_start: int, end: int):
        """(1, end - window_start) bool over the view's keys: False at value tokens, which no query may attend to."""
        keys = torch.arange(window_start, end, device=self.pos_emb.device)
        return (keys % self.transition_dim != self.transition_dim - 1)[None]

    def embed_states(self, tokens, pos, states):
        """BabyAI: each transition's encoded state, added at its OBSERVED state slot."""
        B, td = len(tokens), self.transition_dim
        n, C = states.shape[:2]
        per_state = self.state_emb(states)  # (n, C, D)
        # (B, T, D)
        per_token = per_state.repeat_interleave(B // n, 0)[:, (pos // td).clamp(max=C - 1)]
        return per_token * ((pos % td == 0) & (tokens == OBSERVED))[..., None]

    def logits(self, hidden, dims):
        """hidden (B, T, D), dims (T,) the dimension each output predicts -> (B, T, N); impossible ids at -inf."""
        out = torch.einsum("btd,tdn->btn", hidden, self.head[dims])
        return out.masked_fill(~self.valid[dims], float("-inf"))

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Weighted cross-entropy of every next token of the window (padding excluded)."""
        tokens, mask = batch["tokens"], batch["mask"]  # (B, L·td)
        hidden = self(tokens[:, :-1], states=batch.get("states"))  # (B, L·td - 1, D)
        # what each output predicts
        dims = torch.arange(1, tokens.shape[1], device=tokens.device) % self.transition_dim
        # (B, T)
        nll = F.cross_entropy(
            self.logits(hidden, dims).transpose(1, 2), tokens[:, 1:], reduction="none"
        )
        weight = self.weights[dims] * mask[:, 1:]
        return (nll * weight).sum() / mask[:, 1:].sum()


# ---------------------------------------------------------------------------------------------- planning


def window_start(length: int, max_block: int, td: int) -> int:
    """Where the model's view of a `length`-token sequence begins: its last max_block tokens, cut back to a transition
    boundary so the view always opens with s¹ (the official planner crops the same way)."""
    return 0 if length <= max_block else -(-(length - max_block) // td) * td


class FullDecoder:
    """Next-token logits for a batch of sequences, recomputing the whole view every time: O(view) work per token."""

    def __init__(self, model: Model, max_block: int, states=None):
        self.model = model
        self.max_block = max_block
        self.states = states

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T) -> (B, N) logits of token T."""
        L, td = x.shape[1], self.model.transition_dim
        start = window_start(L, self.max_block, td)
        hidden = self.model(x[:, start:], start, self.states)
        return self.model.logits(hidden[:, -1:], torch.tensor([L % td], device=x.device))[:, 0]

    def branch(self, copies: int, length: int) -> None:
        """Every row became `copies` adjacent rows; nothing to do without a cache."""

    def select(self, index: torch.Tensor) -> None:
        """The rows became x[index] (beams kept, copied, reordered); nothing to do without a cache."""


class CachedDecoder(FullDecoder):
    """The same logits, feeding only the tokens the cache has not seen: O(1) new tokens per call.

    The cache keeps every layer's keys and values of the view in up to three levels, so that keys several rows share
    are stored, and read, once for all of them. Rows are env-major (plan copies an env's prefix into its beams):
    - `real_kv`, once per env: the env's real context (the first call's x) is the same in all of its rows;
    - `kv`, once per beam: its imagined tokens, in a buffer written in place, with room for a transition more;
    - `fresh`, once per candidate, only between `branch` and `select`: each beam's n_expand copies share everything
      up to the branch, so their new tokens (the action, r) are kept apart and the beam's `kv` is read once for all
      its copies; `select` then writes each kept candidate's beam and new tokens into one `kv` row.
    One-token decoding is memory-bound on a CPU (each token reads every key of its row for ~4 FLOPs per 4 bytes):
    the bytes read, not the arithmetic, set its cost. Growing a cache with torch.cat instead would also allocate
    and copy all of it for every token. `attend` is transformer.Block's arithmetic in eval mode, spelled out for this
    cache; `grouped_matmul` reads a level's keys once per group of rows that shares them.

    When the view slides forward (past max_block tokens) every position embedding changes, so the new view is encoded
    again, once per imagined transition: each env's real context once, then every row's imagined tokens on top.
    """

    # rows × tokens per piece of a multi-token feed: a whole re-encoded view at once (e.g. 320 rows × 83 tokens ×
    # 512 MLP units = 54 MB) would be allocated fresh from the OS, whose page faults cost as much as the arithmetic,
    # and falls out of the cache; pieces of ~2k tokens reuse freed memory and stay in the cache
    piece_tokens = 2048

    def __init__(self, model: Model, max_block: int, states=None):
        super().__init__(model, max_block, states)
        self.real = None  # (n, T0) each env's real tokens: the first call's x
        # (n_layer, 2, H, n, S0, Dh) keys [:, 0] and values [:, 1] of the view's real tokens, heads first (see
        # grouped_matmul)
        self.real_kv = None
        # (n_layer, 2, H, rows, capacity, Dh) the same for each beam's imagined tokens: a view of buffers[0]
        self.kv = None
        self.buffers = [None, None]  # flat storage of `kv` and of the next `kv` (`select`, `grow`)
        # (n_layer, 2, H, capacity, length, Dh) each candidate's tokens since `branch`, while `branching`
        self.fresh = None
        self.branching = False
        self.copies = 1  # candidates per beam (rows per `kv` row) while branching
        # tokens in `kv` (of each beam), in `fresh` (of each candidate); where the view starts
        self.own = self.new = self.start = 0
        # (max_block, max_block) 0 where query i of the view may see key j, else -inf
        self.mask = None
        self.last = None  # (rows, N) logits of the token after the cached ones

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        L, td = x.shape[1], self.model.transition_dim
        if self.real is None:
            self.real = x
        n, T0 = self.real.shape
        start = window_start(L, self.max_block, td)
        if self.real_kv is None or start != self.start:  # a new view: encode it from scratch
            assert not self.branching, "the view may not slide between branch and select"
            self.new_view(start, n, x)
        # tokens before `first` are in the cache
        first = self.start + self.real_kv.shape[4] + self.own + self.new
        if first < L:
            self.feed(x[:, first:])
        return self.last

    def new_view(self, start: int, n: int, x: torch.Tensor) -> None:
        """Empties the cache for a view starting at `start`, and feeds each env's real context in it once."""
        model, cfg = self.model, self.model.cfg
        self.start = start
        self.own = 0
        q_pos = torch.arange(self.max_block, device=x.device)[:, None]  # (max_block, 1) in the view
        k_pos = q_pos.T  # (1, max_block)
        # a query sees the visible keys up to itself, and itself (a value token sees only itself)
        allowed = (k_pos <= q_pos) & self.model.visible_keys(start, start + self.max_block) | (
            k_pos == q_pos
        )
        self.mask = torch.zeros(allowed.shape, dtype=model.pos_emb.dtype, device=x.device)
        self.mask.masked_fill_(~allowed, float("-inf"))
        Dh = cfg.d_model // cfg.n_head
        self.real_kv = x.new_zeros((cfg.n_layer, 2, cfg.n_head, n, 0, Dh), dtype=self.mask.dtype)
        T0 = self.real.shape[1]
        if start < T0:  # fed as n rows into `kv`, then moved to `real_kv`
            self.feed(self.real[:, start:])
            self.real_kv = self.kv[:, :, :, :n, : self.own].clone()
            self.own = 0
            self.last = self.last.repeat_interleave(len(x) // n, 0)

    def branch(self, copies: int, length: int) -> None:
        """Row i becomes rows i·copies … i·copies + copies - 1, which will be fed at most `length` more tokens each
        before `select` keeps some of them. They share row i's cached keys until then."""
        cfg = self.model.cfg
        rows = len(self.last) * copies
        Dh = cfg.d_model // cfg.n_head
        if self.fresh is None or self.fresh.shape[3] < rows or self.fresh.shape[4] < length:
            # (n_layer, 2, H, rows, length, Dh)
            self.fresh = self.last.new_zeros((cfg.n_layer, 2, cfg.n_head, rows, length, Dh))
        self.branching, self.copies, self.new = True, copies, 0
        self.last = self.last.repeat_interleave(copies, 0)

    def levels(self, rows: slice, T: int) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
        """The keys and values (n_layer, H, G, capacity, Dh) that rows `rows` attend to, each with the number of its
        keys in use (the T new tokens included), in view order: their envs' real context, their beams' imagined
        tokens and, while branching, their own new tokens. A level's G groups are consecutive blocks of the rows (G
        divides their number). One new token (T = 1) reads the whole buffer, spare room included (masked): torch's
        batched matmul of one query per row ran ~3× faster on a whole contiguous buffer than on a slice of each row's
        keys (320 rows, 63 of 83 keys: 0.35–0.53 vs 1.3 ms); with many queries per row the slice costs little, so
        T > 1 reads only the keys in use."""
        r = len(self.last) // self.real_kv.shape[3]  # rows per env (`last` has every row)
        envs = slice(rows.start // r, -(-rows.stop // r))
        beams = slice(rows.start // self.copies, -(-rows.stop // self.copies))
        levels = [(self.real_kv[:, :, :, envs], self.real_kv.shape[4])]
        if self.branching:
            levels += [
                (self.kv[:, :, :, beams], self.own),
                (self.fresh[:, :, :, rows], self.new + T),
            ]
        else:
            levels.append((self.kv[:, :, :, beams], self.own + T))
        if T > 1:
            levels = [(kv[:, :, :, :, :used], used) for kv, used in levels]
        return [(kv[:, 0], kv[:, 1], used) for kv, used in levels if used > 0]

    def level_mask(self, levels, P: int, T: int) -> torch.Tensor:
        """(T, Σ capacities) the additive mask over the keys of `levels` side by side, for the T tokens after the
        view's first P: the view's mask over the keys in use, -inf over each level's spare room."""
        view = self.mask[P : P + T, : P + T]
        parts, at = [], 0
        for keys, _, used in levels:
            parts += [
                view[:, at : at + used],
                view.new_full((T, keys.shape[3] - used), float("-inf")),
            ]
            at += used
        return torch.cat(parts, 1)

    def feed(self, tokens: torch.Tensor) -> None:
        """tokens (B, T): the view's next T tokens of every row. Writes their keys and values into the cache and sets
        `last` to the logits of the token after them. The rows go through the model in pieces of whole envs (or
        parts of one env's beams), each piece through every layer (`piece_tokens`)."""
        model, cfg = self.model, self.model.cfg
        B, T = tokens.shape
        if not self.branching and (
            self.kv is None or self.kv.shape[3] != B or self.kv.shape[4] < self.own + T
        ):
            self.grow(B, self.own + T)
        n = self.real.shape[0]
        r = B // n  # rows per env
        P = self.real_kv.shape[4] + self.own + self.new  # tokens of the view already cached
        first = self.start + P
        # rows per piece: whole envs, or a divisor of an env's rows (so that a piece's rows share one env's real
        # keys) made of whole beams (so that they share their beams' keys). One token: all rows at once, since a
        # piece's rows of the heads-first cache are not one block of memory, and torch's matmul copies them
        # (10 × 128: 2 pieces of a one-token step made a decision 25% slower)
        size, c = (B if T == 1 else max(1, self.piece_tokens // T)), self.copies
        if size >= r:
            size = r * (size // r)
        else:
            size = max([c] + [d for d in range(c, size + 1, c) if r % d == 0])
        self.last = torch.empty(B, cfg.N, dtype=self.mask.dtype, device=tokens.device)
        dims = torch.tensor([(first + T) % model.transition_dim], device=tokens.device)
        for i in range(0, B, size):
            rows = slice(i, min(i + size, B))
            levels = self.levels(rows, T)
            mask = self.level_mask(levels, P, T)  # (T, S) the same for every layer
            states = None if self.states is None else self.states[i // r : -(-rows.stop // r)]
            x = model.embed(tokens[rows], first, self.start, states)  # (b, T, D)
            for layer, block in enumerate(model.transformer.blocks):
                x = self.attend(block, layer, x, rows, levels, mask)
            # (b, 1, D): only the last token's output is read
            self.last[rows] = model.logits(model.transformer.ln_f(x[:, -1:]), dims)[:, 0]
        if self.branching:
            self.new += T
        else:
            self.own += T

    def attend(
        self, block, layer: int, x: torch.Tensor, rows: slice, levels, mask: torch.Tensor
    ) -> torch.Tensor:
        """transformer.Block.forward without dropout, x (b, T, D) -> (b, T, D) for rows `rows`, attending to the
        keys of `levels` (each read once per group of rows that shares it). mask (T, S): 0 where a query may
        attend a key, -inf where not (added to the scores)."""
        b, T, D = x.shape
        H = block.attn.n_head
        # (3, H, b, T, Dh): queries, keys, values, heads first as in the cache
        qkv = block.attn.qkv(block.ln1(x)).view(b, T, 3, H, D // H).permute(2, 3, 0, 1, 4)
        cache, at = (self.fresh, self.new) if self.branching else (self.kv, self.own)
        cache[layer, :, :, rows, at : at + T] = qkv[1:]  # in place: no copy of the cache
        q = qkv[0] * (1 / math.sqrt(D // H))  # (H, b, T, Dh)
        scores = torch.cat(
            [grouped_matmul(q, keys[layer].transpose(-2, -1)) for keys, _, _ in levels], -1
        )
        probs = scores.add_(mask).softmax(-1)  # (H, b, T, S)
        parts = probs.split([keys.shape[3] for keys, _, _ in levels], -1)
        y = grouped_matmul(parts[0], levels[0][1][layer])  # (H, b, T, Dh)
        for p, (_, values, _) in zip(parts[1:], levels[1:]):
            y += grouped_matmul(p, values[layer])
        x = x + block.attn.proj(y.permute(1, 2, 0, 3).reshape(b, T, D))
        return x + block.mlp(block.ln2(x))

    def select(self, index: torch.Tensor) -> None:
        """Row i becomes old row index[i] (index keeps rows within their env), in `kv` and in `last`: the imagined
        keys and values (after a branch: the beam's, then the candidate's new ones) are copied into the spare
        buffer, which then swaps with `kv` (no allocation after the first steps)."""
        rows, own, new = len(index), self.own, self.new
        spare = self.packed(rows, own + new)
        beams = index // self.copies  # the kv row each kept row comes from
        torch.index_select(self.kv[:, :, :, :, :own], 3, beams, out=spare[:, :, :, :, :own])
        if self.branching:
            torch.index_select(
                self.fresh[:, :, :, :, :new], 3, index, out=spare[:, :, :, :, own : own + new]
            )
        self.buffers.reverse()
        self.kv = spare
        self.own += new
        self.branching, self.copies, self.new = False, 1, 0
        self.last = self.last[index]

    def packed(self, rows: int, used: int) -> torch.Tensor:
        """A (n_layer, 2, H, rows, used + td, Dh) view of the spare flat buffer (buffers[1], the next `kv`): room for
        `used` keys and a transition more, not for max_block: the batched matmuls read a row's keys ~3× faster when
        the rows lie next to each other than spaced max_block apart. The buffer is allocated for max_block + td keys
        per row, once per row count, and the room after `used` is zeroed: it is read (masked), so it must hold finite
        numbers."""
        cfg = self.model.cfg
        td = self.model.transition_dim
        shape = (cfg.n_layer, 2, cfg.n_head, rows, used + td, cfg.d_model // cfg.n_head)
        size = math.prod(shape)
        if self.buffers[1] is None or len(self.buffers[1]) < size:
            most = math.prod(shape[:4] + (self.max_block + td, shape[5]))
            self.buffers[1] = self.mask.new_empty(most)  # pages are touched only where used
        kv = self.buffers[1][:size].view(shape)
        kv[:, :, :, :, used:].zero_()
        return kv

    def grow(self, rows: int, tokens: int) -> None:
        """Makes `kv` hold `rows` rows of at least `tokens` tokens (and room for a transition more), keeping its
        contents (rows can change only while it is empty)."""
        assert self.own == 0 or self.kv.shape[3] == rows, "rows change only through select"
        kv = self.packed(rows, tokens)
        if self.own:
            kv[:, :, :, :, : self.own] = self.kv[:, :, :, :, : self.own]
        self.buffers.reverse()
        self.kv = kv


def grouped_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a (H, B, T, X) @ b (H, G, X, S) -> (H, B, T, S), where the B rows of a form G consecutive groups and group g
    multiplies b[:, g]: one bmm of B/G·T rows per (head, group), so each of b's matrices is read once for its group
    (G = B: a plain batched matmul). With heads first, a group's rows are already adjacent: one reshape, no
    transposes."""
    H, B, T, X = a.shape
    G = b.shape[1]
    return (a.reshape(H, G, B // G * T, X) @ b).view(H, B, T, -1)


def sample(logits, generator, cdf: float | None = None, top_k: int | None = None) -> torch.Tensor:
    """(B, N) logits -> (B, 1) ids. cdf: drop the least likely bins while their total mass stays below cdf (the
    official cdf_act = 0.6 samples from the top 40%); top_k: keep the k likeliest (k = 1: argmax, no randomness).
    generator: one torch.Generator, or a list of n, one per env (rows env-major, B/n per env), so that an env's draws
    do not depend on which other envs are planned in the same batch."""
    if top_k == 1:
        return logits.argmax(-1, keepdim=True)
    probs = logits.softmax(-1)
    if cdf is not None:
        ascending, order = probs.sort(-1)
        drop = torch.zeros_like(probs, dtype=torch.bool).scatter(
            -1, order, ascending.cumsum(-1) < cdf
        )
        probs = probs.masked_fill(drop, 0.0)
    if top_k is not None:  # top_k >= N keeps every bin
        kth = probs.topk(min(top_k, probs.shape[-1]), -1).values[:, -1:]  # (B, 1)
        probs = probs.masked_fill(probs < kth, 0.0)
    if isinstance(generator, (list, tuple)):
        return torch.cat(
            [
                torch.multinomial(p, 1, generator=g)
                for p, g in zip(probs.chunk(len(generator)), generator)
            ]
        )
    return torch.multinomial(probs, 1, generator=generator)


def expand_beams(
    decoder,
    x,
    rewards,
    t: int,
    n_envs: int,
    n_copies: int,
    beam_width: int,
    cdf_act: float,
    generator,
    k_act: int | None = None,
):
    """One step of TT's beam search, for n_envs envs at once (rows env-major: an env's beams are adjacent).

    x (n·b, T) sequences ending in a state; rewards (n·b, H+1) the expected r_0 … r_{t-1} of each plan so far.
    Every row is copied n_copies times; each copy samples its action a_t token by token, then the likeliest r_t and
    V_t tokens are appended while their expectations enter the score  Σ_{h≤t} γ^h E[r_h] + γ^(t+1) E[V_t].
    The beam_width best copies of each env survive, best first.
    Returns x (n·K, T + m + 2), rewards (n·K, H+1), scores (n, K).
    """
    model = decoder.model
    copies = torch.arange(len(x), device=x.device).repeat_interleave(n_copies)  # (n·b·n_copies,)
    x, rewards = x[copies], rewards[copies]
    decoder.branch(n_copies, model.act_dim + 2)
    for _ in range(model.act_dim):  # the action: sampled from its likeliest bins
        x = torch.cat([x, sample(decoder(x), generator, cdf=cdf_act, top_k=k_act)], 1)
    for k in range(2):  # the reward r_t, then the value V_t
        probs = decoder(x).softmax(-1)  # (rows, N)
        # r_t into column t, V_t into t+1 (until r_{t+1} comes)
        rewards[:, t + k] = probs @ model.rv_centers[k]
        x = torch.cat([x, probs.argmax(-1, keepdim=True)], 1)
    gammas = model.cfg.discount ** torch.arange(
        rewards.shape[1], device=x.device, dtype=rewards.dtype
    )
    candidates = (rewards * gammas).sum(-1).view(n_envs, -1)  # (n, b·n_copies)
    scores, best = candidates.topk(beam_width, dim=1)  # (n, K), sorted best first
    # rows of x
    keep = (best + torch.arange(n_envs, device=x.device)[:, None] * candidates.shape[1]).flatten()
    decoder.select(keep)
    return x[keep], rewards[keep], scores


# inference_mode, not no_grad: no gradients either, and none of autograd's view and version bookkeeping on each of
# the ~300 torch calls of a one-token step (~6% of a 1-env decision)
@torch.inference_mode()
def plan(
    model: Model,
    prefix: torch.Tensor,
    states: torch.Tensor | None = None,
    beam_width: int = EvalOptions.beam_width,
    horizon: int = EvalOptions.horizon,
    n_expand: int = EvalOptions.n_expand,
    cdf_act: float | None = EvalOptions.cdf_act,
    k_obs: int | None = EvalOptions.k_obs,
    max_context_transitions: int = EvalOptions.max_context_transitions,
    generator: torch.Generator | None = None,
    cached: bool = True,
    k_act: int | None = None,
):
    """Beam search from the current state of n envs.

    prefix (n, T0) tokens: past transitions, then the current state's d tokens (BabyAI: [OBSERVED]); all envs have
    the same number of past transitions. states (n, C, 172): BabyAI observations of those transitions and the current
    one. The model sees at most max_context_transitions·td - 1 tokens (the official max_block), sliding forward a
    transition at a time as the plan grows. generator: one, or a list of n (one per env: then each env's plan is the
    one it gets when planned alone with its generator). Returns the best plan per env, (n, H·td - d) tokens
    [a_0, r_0, V_0, s_1, a_1, …, V_{H-1}], and its score (n,).

    All n envs are planned in one batch (rows env-major: n·K beams, n·K·E candidates), so the per-token cost of the
    Python loop and of every torch call is paid once for all of them.
    """
    model.eval()  # no dropout while planning
    # <= the trained length
    max_block = min(max_context_transitions, model.cfg.seq_len) * model.transition_dim - 1
    decoder = (CachedDecoder if cached else FullDecoder)(model, max_block, states)
    n = len(prefix)
    x = prefix
    rewards = torch.zeros(n, horizon + 1, device=prefix.device, dtype=model.rv_centers.dtype)
    for t in range(horizon):  # at t = 0 each env's one row becomes beam_width · n_expand candidates
        # feeds the current state once per beam (t = 0: each env's prefix), before the beams are copied
        decoder(x)
        copies = n_expand * (beam_width if t == 0 else 1)
        x, rewards, scores = expand_beams(
            decoder, x, rewards, t, n, copies, beam_width, cdf_act, generator, k_act
        )
        if t < horizon - 1:  # imagine the next state (BabyAI: only mark it unobserved)
            if model.discrete:
                x = torch.cat([x, torch.full_like(x[:, :1], UNOBSERVED)], 1)
            for _ in range(0 if model.discrete else model.obs_dim):
                x = torch.cat([x, sample(decoder(x), generator, top_k=k_obs)], 1)
    best = torch.arange(n, device=x.device) * beam_width  # row 0 of each env is its best plan
    return x[best, prefix.shape[1] :], scores[:, 0]


def plan_uncached(
    model: Model, prefix: torch.Tensor, states: torch.Tensor | None = None, **options
):
    """The reference planner: the same search, but every next-token distribution recomputes the whole view."""
    return plan(model, prefix, states, cached=False, **options)


def plan_flops(
    model: Model,
    n_envs: int,
    prefix_length: int,
    beam_width: int = EvalOptions.beam_width,
    horizon: int = EvalOptions.horizon,
    n_expand: int = EvalOptions.n_expand,
    max_context_transitions: int = EvalOptions.max_context_transitions,
    spare: bool = False,
    **_,
) -> int:
    """Matmul FLOPs of one cached `plan` for n_envs envs, from the shapes alone: the arithmetic a decision must do.

    A piece of T tokens fed to R rows after P cached tokens of the view costs, per layer, 2·12·D² per token for the
    four linear maps (qkv 3D², output D², MLP 8D²) and 2·2·D per token and key for q·k and p·v over its P+T keys,
    then 2·D·N for the next-token head of its last token. Rows (the planner's decoder calls, in order): each env's
    prefix once; per step the current state's last token once per beam (n·K rows), the action tokens, r and V once
    per candidate (n·K·E rows), the next state's tokens once per surviving beam (n·K rows); and each time the view
    slides, the new view again: the real context once per env, each row's imagined tokens once per row.
    prefix_length T0 counts the past transitions' tokens and the current state's.

    spare=True counts what `CachedDecoder` computes instead: one new token is multiplied with every key its cache
    levels have room for, the masked spare room included (see CachedDecoder.levels), so the same piece has more
    keys. That is arithmetic the search need not do, so the floor is the default count."""
    cfg = model.cfg
    td, m, D = model.transition_dim, model.act_dim, cfg.d_model
    # BabyAI's next state is one UNOBSERVED token, appended, not sampled
    d = 0 if model.discrete else model.obs_dim
    max_block = min(max_context_transitions, cfg.seq_len) * td - 1
    flops = 0
    # the decoder's state, as CachedDecoder keeps it: where the view starts, real tokens in it, imagined tokens per
    # beam and per candidate, room (capacity) and rows of its `kv` buffer, whether rows are branching
    view, S0, own, new, capacity, kv_rows, branching = None, 0, 0, 0, 0, 0, False

    def feed(R: int, T: int) -> None:  # CachedDecoder.feed: T tokens to R rows
        nonlocal flops, own, new, capacity, kv_rows
        if not branching and (kv_rows != R or capacity < own + T):  # CachedDecoder.grow
            capacity, kv_rows = own + T + td, R
        keys = S0 + own + new + T
        if (
            spare and T == 1
        ):  # whole buffers: `kv` (if it holds any key) and, while branching, `fresh`
            in_kv = own + (0 if branching else T)
            keys = S0 + (capacity if in_kv else 0) + (m + 2 if branching else 0)
        flops += R * (cfg.n_layer * T * (24 * D * D + 4 * keys * D) + 2 * D * cfg.N)
        if branching:
            new += T
        else:
            own += T

    def call(L: int, R: int) -> None:  # CachedDecoder.__call__ for x of length L, R rows
        nonlocal view, S0, own
        if window_start(L, max_block, td) != view:  # a new view: the real context once per env
            view, S0, own = window_start(L, max_block, td), 0, 0
            if view < prefix_length:
                feed(n_envs, prefix_length - view)
                S0, own = prefix_length - view, 0
        if view + S0 + own + new < L:
            feed(R, L - (view + S0 + own + new))

    L, beams = prefix_length, n_envs
    for t in range(horizon):
        call(L, beams)  # plan's decoder(x): the current state
        branching, new = True, 0  # expand_beams: decoder.branch
        beams = n_envs * beam_width
        for i in range(m + 2):  # a¹ … a^m, r, V
            call(L + i, beams * n_expand)
        own, new, branching = own + new, 0, False  # decoder.select
        capacity, kv_rows = own + td, beams
        L += m + 2
        if t < horizon - 1:
            for i in range(d):  # the next state
                call(L + i, beams)
            L += model.obs_dim
    return flops


def plan_cost(
    model: Model,
    tok: Tokenizer,
    beam_widths=(1, 2, 4, 8, 16, 32),
    cached: bool = True,
    repeats: int = 3,
    clock=time.perf_counter,
    n_envs: int = 1,
    **options,
) -> dict[int, float]:
    """Seconds per planning step (median of `repeats`) for each beam width: n_envs envs planned in one batch, each
    with a full view of random valid tokens (the cost does not depend on their values). model, tok: as
    `minirl.runs.load_run` returns them. clock=time.process_time counts this process's CPU time only (steadier on a
    shared machine)."""
    generator = torch.Generator().manual_seed(0)
    context = options.get("max_context_transitions", EvalOptions.max_context_transitions)
    past = min(context, model.cfg.seq_len) - 1
    dims = torch.arange(past * model.transition_dim + model.obs_dim) % model.transition_dim
    # (n, T0)
    prefix = (torch.rand(n_envs, len(dims), generator=generator) * model.valid.sum(1)[dims]).long()
    states = (
        torch.zeros(n_envs, past + 1, tok.state_size, dtype=torch.long) if tok.discrete else None
    )
    out = {}
    for K in beam_widths:
        times = []
        for _ in range(repeats):
            t0 = clock()
            plan(model, prefix, states, beam_width=K, generator=generator, cached=cached, **options)
            times.append(clock() - t0)
        out[K] = float(np.median(times))
    return out


def paper_size_model() -> tuple[Model, Tokenizer]:
    """An untrained paper-size TT with HalfCheetah's shapes (the cost of planning does not depend on the weights)."""
    rng = np.random.default_rng(0)
    tok = Tokenizer(
        "halfcheetah",
        False,
        6,
        Normalizer(np.zeros(17), np.ones(17)),
        discretizer=Discretizer.fit(rng.normal(size=(2000, 17 + 6 + 2)), Config.N),
    )
    torch.manual_seed(0)
    return Model(Config(), tok).eval(), tok


def bench_plan_cost(quick: bool = False) -> dict:
    """`minirl bench speed`: ms per planning step vs beam width, cached and uncached, horizon 5, one env."""
    model, tok = paper_size_model()
    rows = []
    for kind in ("cached", "uncached"):
        costs = plan_cost(
            model,
            tok,
            (1, 4, 16) if quick else (1, 2, 4, 8, 16, 32),
            horizon=5,
            cached=kind == "cached",
            repeats=1 if quick else 3,
            clock=time.process_time,
        )
        rows += [
            {"label": f"{kind} K={K}", "kind": kind, "beam_width": K, "ms_per_step": 1000 * seconds}
            for K, seconds in costs.items()
        ]
    return {"horizon": 5, "rows": rows}


def bench_plan_floor(
    peak_flops, quick: bool = False, settings=((1, 32), (10, 32), (1, 128), (10, 128))
) -> list[dict]:
    """`minirl bench speed`: CPU seconds per decision of the cached planner at the paper's HalfCheetah settings
    (horizon 5, n_expand 2, a full 5-transition view) for (n_envs, beam_width) in `settings`, against its floor:
    plan_flops / the matmul peak. peak_flops: a number, or a function measuring it, called next to each timing (on
    a shared machine the peak moves with the load)."""
    model, tok = paper_size_model()
    options = dataclasses.asdict(EvalOptions())
    del options["beam_width"]  # each setting's own
    prefix_length = (options["max_context_transitions"] - 1) * model.transition_dim + model.obs_dim
    out = []
    for n, K in settings[:1] if quick else settings:
        seconds = plan_cost(
            model,
            tok,
            (K,),
            n_envs=n,
            repeats=1 if quick else 3,
            clock=time.process_time,
            **options,
        )[K]
        peak = peak_flops() if callable(peak_flops) else peak_flops
        flops = plan_flops(model, n, prefix_length, K, **options)
        out.append(
            {
                "n_envs": n,
                "beam_width": K,
                "horizon": options["horizon"],
                "flops": flops,
                "peak_flops": peak,
                "floor_s": flops / peak,
                "seconds": seconds,
                "ratio": seconds * peak / flops,
            }
        )
    return out


# ---------------------------------------------------------------------------------------------- acting


class Agent:
    """Plans anew at every step for N envs in one batch, each env with its last max_context_transitions - 1
    transitions as context (all that fit in the view next to the current state). trace: plan_ms (per step) and
    plan_score (the best plan's predicted Σ γ^h r_h + γ^H V, mean over envs)."""

    def __init__(self, model: Model, tok: Tokenizer, seed: int = 0, **options):
        """options: EvalOptions fields (beam_width=8, horizon=3, ...); the others keep their defaults there."""
        self.model = model.eval()
        self.tok = tok
        self.disc = tok.discretizer
        self.options = EvalOptions(**options)
        self.seed = seed
        self.device = next(model.parameters()).device
        # past transitions that fit in the view
        self.keep = min(self.options.max_context_transitions, model.cfg.seq_len) - 1

    def reset(self, n_envs: int) -> None:
        td = self.model.transition_dim
        self.context = np.zeros((n_envs, 0, td), np.int64)  # (N, C, td) past transitions' tokens
        # (N, C, S) BabyAI only
        self.context_states = np.zeros((n_envs, 0, self.tok.state_size), np.int64)
        self.done = np.zeros(n_envs, bool)
        # per env
        self.generators = [
            torch.Generator(self.device).manual_seed(self.seed + i) for i in range(n_envs)
        ]
        self.trace = {"plan_ms": [], "plan_score": []}

    def encode(self, values: np.ndarray, first: int) -> np.ndarray:
        """(N, k) values of discretizer columns first … first+k-1 -> (N, k) bin ids."""
        full = np.zeros((len(values), self.disc.edges.shape[0]))
        full[:, first : first + values.shape[1]] = values
        return self.disc.encode(full)[:, first : first + values.shape[1]]

    @torch.no_grad()
    def act(self, states: np.ndarray) -> np.ndarray:
        """states (N, S) from tok.encode_obs -> actions (N, A) float or (N,) int."""
        N = len(states)
        m = self.model.act_dim
        # (N, d)
        current = np.full((N, 1), OBSERVED) if self.tok.discrete else self.encode(states, 0)
        prefix = np.concatenate([self.context.reshape(N, -1), current], 1)
        # finished envs are not planned
        live = np.flatnonzero(~self.done) if not self.done.all() else np.arange(N)
        seen = (
            np.concatenate([self.context_states, states[:, None]], 1) if self.tok.discrete else None
        )
        t0 = time.perf_counter()
        plan_tokens, scores = plan(
            self.model,
            torch.as_tensor(prefix[live], device=self.device),
            None if seen is None else torch.as_tensor(seen[live], device=self.device),
            generator=[self.generators[i] for i in live],
            **dataclasses.asdict(self.options),
        )
        self.trace["plan_ms"].append(1000 * (time.perf_counter() - t0))
        self.trace["plan_score"].append(float(scores.mean()))
        action_ids = np.zeros((N, m), np.int64)
        action_ids[live] = plan_tokens[:, :m].cpu().numpy()  # the first action of the best plan
        self.pending = (current, action_ids, seen)
        if self.tok.discrete:
            return action_ids[:, 0]
        d = self.model.obs_dim
        # (N, m) bin values
        return self.disc.centers[np.arange(d, d + m), action_ids].astype(np.float32)

    def observe(self, rewards: np.ndarray, done: np.ndarray) -> None:
        """Appends [s, a, r, V placeholder] to each env's context (no query ever attends to a value token)."""
        current, action_ids, seen = self.pending
        # (N, 1)
        r = self.encode(np.asarray(rewards, np.float64)[:, None], self.disc.edges.shape[0] - 2)
        rv = np.concatenate([r, np.zeros_like(r)], 1)
        keep = self.keep
        transition = np.concatenate([current, action_ids, rv], 1)[:, None]  # (N, 1, td)
        self.context = np.concatenate([self.context, transition], 1)[
            :, max(0, self.context.shape[1] + 1 - keep) :
        ]
        if self.tok.discrete:
            self.context_states = seen[:, max(0, seen.shape[1] - keep) :]
        self.done |= np.asarray(done, bool)
