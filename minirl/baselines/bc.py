"""Lesson 03 · Behaviour Cloning: supervised learning on the dataset's actions (the offline baselines' base).

Pomerleau 1991 ("Efficient training of artificial neural networks for autonomous navigation"); the D4RL-era
version is the one in CORL (Tarasov et al. 2022, `algorithms/offline/any_percent_bc.py`).

No rewards, no values: fit a policy π(s) to the (state, action) pairs of the dataset,

    loss = E_(s,a)~D mean_i (tanh(f(s))_i - a_i)²     (continuous actions in [-1, 1]: mean squared error)
    loss = E_(s,a)~D [ -log softmax(f(s))_a ]        (discrete actions: cross-entropy)

and act with it greedily. BC copies the average behaviour in the data, so it is exactly as good as the data, no
better: the number every offline RL method (and every sequence model) has to beat.

This file also holds what the three offline baselines share (CQL and IQL import it from here):
- `state_encoder`: tokenizer states -> one flat vector for an MLP. HalfCheetah states are already normalized floats;
  a BabyAI state (the int vector of `tokenizer.encode_babyai`: grid, direction, mission words) goes through the
  BabyAI encoder every method shares (minirl/encoders.py), so the baselines see BabyAI exactly as DT, TT and LEAP do.
- `transitions` / `prepare` / `sample_batch`: the dataset as flat (s, a, r, s', done) arrays and batches drawn
  uniformly over transitions (BC reads only s and a; the Q-learning baselines read all five).
- `Agent`: acting is one forward pass per step, `model.act(states)`, for every method here.

Shapes: B batch, S state size (17, or 172 ints for BabyAI's egocentric view), F encoder output size, A action size
(or number of discrete actions), N environments acting in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from minirl.encoders import ENCODERS, babyai_encoder
from minirl.tokenizer import Tokenizer

# ---------------------------------------------------------------------------------------------- config


@dataclass
class Config:
    """CORL's BC for D4RL locomotion: a 256-256 MLP, Adam 3e-4, batch 256, 1M updates."""

    # width of each hidden layer (BabyAI: also the width F of the state encoder's output)
    hidden: Annotated[int, "[1, 65_536]"] = 256
    n_hidden: Annotated[int, "[1, 64]"] = 2  # hidden layers
    # BabyAI's state encoder: "minirl" (the shared BabyAIEncoder) or "paper" (the official LEAP model's CNN + BatchNorm
    # + FiLM, --obs full only; encoders.PaperEncoder), so a table can give every method the same one
    encoder: Annotated[str, ENCODERS] = "minirl"
    # training (read by the shared loop in minirl/train.py)
    steps: Annotated[int, "[1, 100_000_000]"] = 1_000_000
    batch_size: Annotated[int, "[1, 65_536]"] = 256
    lr: Annotated[float, "(0, 1]"] = 3e-4
    weight_decay: Annotated[float, "[0, 100]"] = 0.0  # CORL uses plain Adam
    warmup_steps: Annotated[int, "[0, 100_000_000]"] = 0
    lr_schedule: Annotated[str, ("constant", "cosine")] = "constant"
    grad_clip: Annotated[float, "(0, 1e12]"] = 1e9  # no clipping, as in CORL


def env_defaults(spec) -> dict:
    """BabyAI (no paper settings for these baselines there): a smaller net, lr 1e-3 and 2000 updates, which fit a
    thousand bot demonstrations in about 20 CPU-seconds (measured on babyai-gotolocal, docs/results.md)."""
    return dict(BABYAI_DEFAULTS) if spec.discrete else {}


# shared with CQL and IQL
BABYAI_DEFAULTS = {"hidden": 128, "batch_size": 128, "lr": 1e-3, "steps": 2000}


@dataclass
class EvalOptions:
    """A deterministic policy (shared with CQL and IQL): nothing to choose at evaluation time."""


# ---------------------------------------------------------------------------------------------- data


def make_tokenizer(episodes: list[dict], spec, cfg) -> Tokenizer:
    """HalfCheetah states normalized by the dataset's mean/std; rewards are left as they are."""
    return Tokenizer.fit(episodes, spec.name, spec.discrete, spec.act_dim)


def next_states(tok: Tokenizer, episode: dict) -> np.ndarray:
    """s_{t+1} for every step of an episode (the observations shifted by one): (T, S), encoded like tok.states."""
    return tok.states(episode, slice(1, None))


def transitions(episodes: list[dict], tok: Tokenizer) -> dict[str, np.ndarray]:
    """All episodes as flat transition arrays, M = total steps: states (M, S), actions (M, A) or (M,),
    rewards (M,), next_states (M, S), dones (M,) float.

    done is the environment's termination only: a time-limit truncation does not end the MDP, so the value of the
    state it stopped in is still bootstrapped (its real next observation is in the dataset).
    """
    arrays = [tok.episode_arrays(ep) for ep in episodes]
    return {
        "states": np.concatenate([a["states"] for a in arrays]),
        "actions": np.concatenate([a["actions"] for a in arrays]),
        "rewards": np.concatenate([a["rewards"] for a in arrays]),
        "next_states": np.concatenate([next_states(tok, ep) for ep in episodes]),
        "dones": np.concatenate([np.asarray(ep["terminations"], np.float32) for ep in episodes]),
    }


def prepare(episodes: list[dict], tok: Tokenizer, cfg) -> dict[str, torch.Tensor]:
    """`transitions` as tensors (minirl/train.py moves them to the training device once)."""
    return {key: torch.from_numpy(values) for key, values in transitions(episodes, tok).items()}


def sample_batch(
    data: dict[str, torch.Tensor], cfg, rng: np.random.Generator
) -> dict[str, torch.Tensor]:
    """B transitions drawn uniformly (with replacement) from the whole dataset, gathered where the data is."""
    idx = rng.integers(0, len(data["rewards"]), cfg.batch_size)
    idx = torch.from_numpy(idx).to(data["rewards"].device)
    return {key: values[idx] for key, values in data.items()}


# ---------------------------------------------------------------------------------------------- model


def mlp(in_dim: int, out_dim: int, hidden: int, n_hidden: int) -> nn.Sequential:
    """in_dim -> [Linear(hidden) -> ReLU] x n_hidden -> Linear(out_dim)."""
    layers, width = [], in_dim
    for _ in range(n_hidden):
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    return nn.Sequential(*layers, nn.Linear(width, out_dim))


def state_encoder(tok: Tokenizer, cfg) -> tuple[nn.Module, int]:
    """The state encoder of a baseline's network, (B, S) -> (B, F), and its output size F.

    HalfCheetah: the normalized observation as it is (F = S). BabyAI: the BabyAI encoder every method shares
    (minirl/encoders.py), F = cfg.hidden, the width of the MLP that reads it.
    """
    if tok.discrete:
        return babyai_encoder(tok.layout, cfg.hidden, cfg.encoder), cfg.hidden
    return nn.Identity(), tok.state_size


class Model(nn.Module):
    """π(s) = tanh(MLP(s)) in the action box [-1, 1]^A, or logits over the A discrete actions."""

    def __init__(self, cfg: Config, tok: Tokenizer):
        super().__init__()
        self.cfg, self.discrete = cfg, tok.discrete
        self.encoder, width = state_encoder(tok, cfg)
        self.policy = mlp(width, tok.act_dim, cfg.hidden, cfg.n_hidden)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """states (B, S) -> actions (B, A) in [-1, 1], or logits (B, A)."""
        out = self.policy(self.encoder(states))  # (B, A)
        return out if self.discrete else torch.tanh(out)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """MSE to the dataset's actions (HalfCheetah) or cross-entropy on its action ids (BabyAI)."""
        pred = self(batch["states"])
        if self.discrete:
            return F.cross_entropy(pred, batch["actions"])
        return F.mse_loss(pred, batch["actions"])

    @torch.no_grad()
    def act(self, states: torch.Tensor) -> torch.Tensor:
        """states (N, S) -> actions (N, A) float or (N,) int: the mean action, or the most likely one."""
        out = self(states)
        return out.argmax(-1) if self.discrete else out


# ---------------------------------------------------------------------------------------------- acting


class Agent:
    """Stateless greedy acting, shared by BC, CQL and IQL: one batched `model.act` per step for all N envs."""

    def __init__(self, model: nn.Module, tok: Tokenizer):
        self.model, self.tok = model, tok
        self.device = next(model.parameters()).device
        self.trace: dict = {}

    def reset(self, n_envs: int) -> None:
        self.trace = {}

    @torch.no_grad()
    def act(self, states: np.ndarray) -> np.ndarray:
        """states (N, S) from tok.encode_obs -> actions (N, A) float or (N,) int."""
        return self.model.act(torch.as_tensor(states, device=self.device)).cpu().numpy()

    def observe(self, rewards: np.ndarray, done: np.ndarray) -> None:
        pass  # nothing to remember: the policy sees only the current state
