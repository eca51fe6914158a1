"""Lesson 04 · Decision Transformer: offline RL as return-conditioned sequence modeling.

Chen et al. 2021, "Decision Transformer: Reinforcement Learning via Sequence Modeling" (arXiv:2106.01345).

No value function, no policy gradient: write every trajectory as one sequence of tokens, three per step,

    τ = (R̂_1, s_1, a_1, R̂_2, s_2, a_2, ..., R̂_T, s_T, a_T),      R̂_t = Σ_{t' ≥ t} r_t'   (the return-to-go)

and train a causal GPT to predict a_t from the output at the token of s_t, which sees R̂_≤t, s_≤t and a_<t:

    loss = mean_t || a_t - π(R̂_≤t, s_≤t, a_<t) ||²      (continuous actions; cross-entropy for discrete ones)

To act, ask for the return you want: R̂_1 = target return, then after each reward R̂_{t+1} = R̂_t - r_t; the action
is the model's prediction at the newest state token (greedy, one forward pass per step, the last K steps in view).

Each token gets an embedding of its own kind (return, state, action) plus a learned embedding of its timestep t,
the paper's only position signal. HalfCheetah: states are normalized floats, actions floats in [-1, 1] (tanh head).
BabyAI: states are the tokenizer's int vectors (grid, direction, mission words), embedded by the encoder every method
shares (minirl/encoders.py); actions are one of 7 (logits head).

Shapes: B batch, K steps in the context window (3K tokens), S state size, A action size (or number of discrete
actions), D width, L layers, H heads, N environments acting in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from minirl.encoders import ENCODERS, PaperEncoder, babyai_encoder
from minirl.tokenizer import Tokenizer, sample_windows, stack_episodes
from minirl.transformer import TokenLayout, Transformer, TransformerConfig, init_weights

# ---------------------------------------------------------------------------------------------- config


@dataclass
class Config:
    """The paper's gym settings (its Table 8 and the official gym code); `env_defaults` adapts them to BabyAI."""

    # model. The activation is GELU, GPT-2's own and the shared Block's: the official gym code passed ReLU to GPT-2,
    # but all three models here share one transformer (DESIGN.md), and GELU is what that GPT block was designed with.
    # `activation` lets a Hugging Face checkpoint (ReLU) run unchanged (`minirl import hf-dt`, minirl/hf.py).
    n_layer: Annotated[int, "[1, 64]"] = 3
    n_head: Annotated[int, "[1, 64]"] = 1
    d_model: Annotated[int, "[1, 8192]"] = 128
    dropout: Annotated[float, "[0, 1)"] = 0.1
    context_len: Annotated[int, "[1, 1000]"] = 20  # K: steps in view, 3K tokens
    # rows of the timestep embedding (HalfCheetah episodes are 1000 steps)
    max_timestep: Annotated[int, "[1, 10_000_000]"] = 1000
    # R̂ is divided by this before it is embedded, so the model sees numbers near 1
    rtg_scale: Annotated[float, "(0, 1e9]"] = 1000.0
    # the MLP's: "gelu" (exact), "gelu_tanh" (GPT-2's approximation) or "relu" (Hugging Face's DT default)
    activation: Annotated[str, ("gelu", "gelu_tanh", "relu")] = "gelu"
    # BabyAI's state encoder: "minirl" (the shared BabyAIEncoder) or "paper" (the official LEAP model's, --obs full
    # only; encoders.PaperEncoder; an issue 14 experiment)
    encoder: Annotated[str, ENCODERS] = "minirl"
    # training (read by the shared loop in minirl/train.py)
    steps: Annotated[int, "[1, 100_000_000]"] = 100_000  # the paper: 10 iterations of 10k updates
    batch_size: Annotated[int, "[1, 65_536]"] = 64
    lr: Annotated[float, "(0, 1]"] = 1e-4
    weight_decay: Annotated[float, "[0, 100]"] = 1e-4
    warmup_steps: Annotated[int, "[0, 100_000_000]"] = 10_000  # linear warmup, then constant
    lr_schedule: Annotated[str, ("constant", "cosine")] = "constant"
    grad_clip: Annotated[float, "(0, 1e12]"] = 0.25


def env_defaults(spec) -> dict:
    """BabyAI (not in the paper): rewards are at most 1, so R̂ needs no scaling; episodes last at most 64-128 steps
    (bot demos ~5 on GoToLocal), so 10 steps of context suffice; a half-width 2-layer model at lr 1e-3 trains in
    ~65 ms per batch on one CPU core (the paper's size: ~330 ms), so 3000 steps take ~3.5 CPU-minutes."""
    if spec.discrete:
        return {
            "rtg_scale": 1.0,
            "max_timestep": spec.max_steps,
            "context_len": 10,
            "d_model": 64,
            "n_layer": 2,
            "n_head": 2,
            "lr": 1e-3,
            "steps": 3000,
            "warmup_steps": 200,
        }
    # PointMaze: sparse returns of at most the horizon (300-800 steps), so R̂ / 100 is near 1
    if spec.name.startswith("pointmaze-"):
        return {"rtg_scale": 100.0}
    return {}


@dataclass
class EvalOptions:
    """What `minirl eval` may change in a trained DT (`--target-return R ...` or `--set target_return=R`)."""

    # R̂_1, the return asked for, in reward units; None: the env's default_target
    target_return: Annotated[float | None, "[-1e9, 1e9]"] = None


PAPER_TARGETS = (6000.0, 12000.0)  # the paper's two HalfCheetah targets (its Table 9)


def default_sweep(spec) -> dict | None:
    """The targets `minirl eval` tries when none is given: HalfCheetah PAPER_TARGETS, PointMaze default_target,
    BabyAI none (its default_target, success, is the one return worth asking for)."""
    if spec.name.startswith("pointmaze-"):
        return {"target_return": [spec.ref_max_score]}
    return None if spec.discrete else {"target_return": list(PAPER_TARGETS)}


def default_target(tok: Tokenizer) -> float:
    """R̂_1 when EvalOptions.target_return is None: HalfCheetah the paper's first target, BabyAI 1 (success),
    PointMaze maze2d's expert return on the evaluation task (envs.py's ref_max_score, from D4RL's infos.py)."""
    if tok.env.startswith("pointmaze-"):
        from minirl.envs import get_spec

        return get_spec(tok.env).ref_max_score
    return 1.0 if tok.discrete else PAPER_TARGETS[0]


# ---------------------------------------------------------------------------------------------- data


def make_tokenizer(episodes: list[dict], spec, cfg: Config) -> Tokenizer:
    """States normalized by the dataset's mean/std (HalfCheetah), R̂ divided by rtg_scale, no discount."""
    return Tokenizer.fit(
        episodes, spec.name, spec.discrete, spec.act_dim, rtg_scale=cfg.rtg_scale, gamma=1.0
    )


def prepare(episodes: list[dict], tok: Tokenizer, cfg: Config) -> dict:
    return stack_episodes([tok.episode_arrays(ep) for ep in episodes])


def sample_batch(data: dict, cfg: Config, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """B windows of K steps, episodes drawn in proportion to their length, left-padded (mask False on padding)."""
    w = sample_windows(data, cfg.context_len, cfg.batch_size, rng)
    return {
        "rtg": w["rtg"],  # (B, K) already scaled
        "states": w["states"],  # (B, K, S)
        "actions": w["actions"],  # (B, K, A) float or (B, K) int
        "timesteps": w["timesteps"].clamp(max=cfg.max_timestep - 1),  # (B, K)
        "mask": w["mask"],
    }  # (B, K) True = real step


# ---------------------------------------------------------------------------------------------- model


class Model(nn.Module):
    """Embeds (R̂, s, a) per step, runs the shared causal Transformer, reads a_t off the output at s_t's token."""

    def __init__(self, cfg: Config, tok: Tokenizer):
        super().__init__()
        self.cfg = cfg
        self.discrete = tok.discrete
        D = cfg.d_model
        self.embed_timestep = nn.Embedding(cfg.max_timestep, D)
        self.embed_return = nn.Linear(1, D)
        if tok.discrete:
            self.embed_state = babyai_encoder(tok.layout, D, cfg.encoder)  # minirl/encoders.py
            self.embed_action = nn.Embedding(tok.act_dim, D)
            self.predict_action = nn.Linear(D, tok.act_dim)  # logits over the actions
        else:
            self.embed_state = nn.Linear(tok.state_size, D)
            self.embed_action = nn.Linear(tok.act_dim, D)
            # actions live in [-1, 1]
            self.predict_action = nn.Sequential(nn.Linear(D, tok.act_dim), nn.Tanh())
        self.embed_ln = nn.LayerNorm(D)
        self.transformer = Transformer(
            TransformerConfig(
                cfg.n_layer,
                cfg.n_head,
                D,
                cfg.dropout,
                max_tokens=3 * cfg.context_len,
                activation=cfg.activation,
            )
        )
        self.apply(init_weights)
        if isinstance(self.embed_state, PaperEncoder):
            self.embed_state.reset_parameters()  # the official init, not GPT-2's

    def forward(self, rtg, states, actions, timesteps, mask=None):
        """Action predictions for every step of the window (only the state tokens' outputs are read).

        rtg (B, K) scaled R̂; states (B, K, S); actions (B, K, A) float or (B, K) int; timesteps (B, K) int;
        mask (B, K) bool, True = real step (None: all real).
        Returns (B, K, A) actions in [-1, 1] or (B, K, A) logits. The 3K tokens are laid out as `token_layout` says.
        """
        B, K = rtg.shape
        time = self.embed_timestep(timesteps)  # (B, K, D), added to all three tokens of a step
        tokens = torch.stack(
            [
                self.embed_return(rtg[..., None]) + time,
                self.embed_states(states, mask) + time,
                self.embed_action(actions) + time,
            ],
            dim=2,
        )  # (B, K, 3, D)
        # (B, 3K, D): R̂_1, s_1, a_1, R̂_2, ...
        tokens = self.embed_ln(tokens.reshape(B, 3 * K, -1))
        padding_mask = None if mask is None else mask.repeat_interleave(3, dim=1)  # (B, 3K)
        hidden = self.transformer(tokens, causal=True, padding_mask=padding_mask)
        # (B, K, A) from s_t's tokens
        return self.predict_action(hidden.reshape(B, K, 3, -1)[:, :, 1])

    def embed_states(self, states, mask=None):
        """states (B, K, S) -> (B, K, D). The paper encoder (BabyAI, encoder=paper) runs on the real steps alone: its
        CNN skips the padding and its BatchNorm statistics are theirs; padding steps get zeros, which no real token
        attends to."""
        if mask is None or not isinstance(self.embed_state, PaperEncoder):
            return self.embed_state(states)
        out = torch.zeros(*states.shape[:2], self.cfg.d_model, device=states.device)
        out[mask] = self.embed_state(states[mask])
        return out

    @staticmethod
    def token_layout(K: int) -> TokenLayout:
        """What forward's 3K tokens are: token 3t is R̂_t, 3t+1 is s_t (its output is a_t's prediction), 3t+2 a_t."""
        return TokenLayout(
            ["return", "state", "action"] * K,
            [t for t in range(K) for _ in range(3)],
            list(range(1, 3 * K, 3)),
        )

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """MSE on the actions (HalfCheetah) or cross-entropy (BabyAI), over real steps only (padding is masked)."""
        preds = self(
            batch["rtg"], batch["states"], batch["actions"], batch["timesteps"], batch["mask"]
        )
        mask, actions = batch["mask"], batch["actions"]
        if self.discrete:
            # (real steps, A) logits vs (real steps,) ids
            return F.cross_entropy(preds[mask], actions[mask])
        return ((preds - actions) ** 2)[mask].mean()


# ---------------------------------------------------------------------------------------------- acting


class Agent:
    """Greedy return-conditioned acting in N environments at once: one forward pass per step for all of them.

    Each env keeps a rolling window of its last K steps (R̂, s, a, t). act() appends the new state with the current
    R̂ (a placeholder action the state token cannot see), runs the model once on the filled part of the window and
    takes the prediction at the newest state token; observe() subtracts each reward from R̂. All envs start together,
    so every window holds the same number of steps and no padding is needed. trace["rtg"][i] lists env i's R̂
    (in reward units) at each of its steps, for `minirl analyze rtg`.
    """

    def __init__(self, model: Model, tok: Tokenizer, **options):
        """options: EvalOptions fields (target_return=R); the others keep their defaults there."""
        self.model = model
        self.tok = tok
        self.cfg = model.cfg
        self.options = EvalOptions(**options)
        target = self.options.target_return
        self.target_return = float(default_target(tok) if target is None else target)
        self.device = next(model.parameters()).device

    def reset(self, n_envs: int) -> None:
        N, K, S, A = n_envs, self.cfg.context_len, self.tok.state_size, self.tok.act_dim
        dtype = torch.long if self.tok.discrete else torch.float32  # of states and actions
        self.steps = 0
        self.rtg = torch.zeros(N, K, device=self.device)  # scaled R̂ in view
        self.states = torch.zeros((N, K, S), dtype=dtype, device=self.device)
        self.actions = torch.zeros(
            (N, K) if self.tok.discrete else (N, K, A), dtype=dtype, device=self.device
        )
        self.timesteps = torch.zeros((N, K), dtype=torch.long, device=self.device)
        # (N,) scaled R̂_t
        self.current_rtg = np.full(N, self.target_return / self.tok.rtg_scale, np.float32)
        self.done = np.zeros(N, bool)
        self.trace = {"target_return": self.target_return, "rtg": [[] for _ in range(N)]}

    @staticmethod
    def _push(window: torch.Tensor, newest: torch.Tensor) -> torch.Tensor:
        """Drops the oldest step of (N, K, ...) and appends newest (N, ...) as step K."""
        return torch.cat([window[:, 1:], newest[:, None]], dim=1)

    @torch.no_grad()
    def act(self, states: np.ndarray) -> np.ndarray:
        """states (N, S) from tok.encode_obs -> actions (N, A) float or (N,) int (zeros for finished envs)."""
        N = len(states)
        t = min(self.steps, self.cfg.max_timestep - 1)
        self.states = self._push(self.states, torch.as_tensor(states, device=self.device))
        self.rtg = self._push(self.rtg, torch.as_tensor(self.current_rtg, device=self.device))
        self.timesteps = self._push(
            self.timesteps, torch.full((N,), t, dtype=torch.long, device=self.device)
        )
        self.actions = self._push(self.actions, torch.zeros_like(self.actions[:, -1]))
        # finished envs are skipped
        live = torch.as_tensor(np.flatnonzero(~self.done), device=self.device)
        n = min(self.steps + 1, self.cfg.context_len)  # steps filled so far, the same for every env
        preds = self.model(
            self.rtg[live, -n:],
            self.states[live, -n:],
            self.actions[live, -n:],
            # (live, A): the prediction at the newest s_t
            self.timesteps[live, -n:],
        )[:, -1]
        chosen = preds.argmax(-1) if self.tok.discrete else preds  # (live,) or (live, A)
        self.actions[live, -1] = chosen
        for i in live.tolist():
            self.trace["rtg"][i].append(float(self.current_rtg[i] * self.tok.rtg_scale))
        return self.actions[:, -1].cpu().numpy()

    def observe(self, rewards: np.ndarray, done: np.ndarray) -> None:
        """R̂_{t+1} = R̂_t - r_t for the envs that were still running; finished envs stay finished."""
        running = ~self.done
        self.current_rtg[running] -= np.asarray(rewards, np.float32)[running] / self.tok.rtg_scale
        self.done |= np.asarray(done, bool)
        self.steps += 1
