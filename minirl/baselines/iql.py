"""Lesson 02 · Implicit Q-Learning: values learned without ever querying an action outside the data.

Kostrikov, Nair, Levine 2021, "Offline Reinforcement Learning with Implicit Q-Learning" (arXiv:2110.06169).

CQL fights the extrapolation of max_a' Q(s', a') with a penalty; IQL never computes that max. A state value V(s)
is fit to an upper expectile of Q(s, a) over the dataset's own actions, so V approximates the best action the data
supports, and the Bellman backup uses V(s') instead of a max:

    L_V = E_D[ L_2^τ( Q'(s, a) - V(s) ) ],   L_2^τ(u) = |τ - 1(u < 0)| u²      (`expectile_loss`, τ = 0.7)
    L_Q = E_D[ (r + γ (1 - done) V(s') - Q_i(s, a))² ]                          (twin Q_i, Polyak target Q')
    L_π = E_D[ -exp(β (Q'(s, a) - V(s))) log π(a|s) ]                          (weights clipped at 100, β = 3)

τ = 0.5 would be SARSA on the behaviour policy; τ -> 1 approaches the max over in-data actions. The policy is then
extracted by advantage-weighted regression: behaviour cloning in which each dataset action counts exp(β A) times.

One module, one optimizer (minirl's shared training loop): `loss` returns L_V + L_Q + L_π and each network gets
exactly its own gradient: L_V reads the target critics Q' (frozen copies, no gradient) so it trains only V; L_Q's
target r + γ V(s') is computed under no_grad so it trains only Q_1, Q_2; L_π's weights use the advantage detached,
so it trains only π. The target critics follow Q_1, Q_2 by Polyak averaging in `after_step`.

HalfCheetah: a Gaussian policy with mean tanh(MLP(s)) and a learned state-independent log-std (CORL's), acting with
its mean. BabyAI: a softmax policy over the 7 actions, acting greedily; Q-networks output one value per action.

Shapes: B batch, S state size, F encoder output size, A action size (or number of discrete actions).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Annotated

import torch
import torch.nn as nn
import torch.nn.functional as F

from minirl.baselines.bc import (  # noqa: F401  (Agent, EvalOptions, make_tokenizer, prepare, sample_batch: BC's)
    BABYAI_DEFAULTS,
    Agent,
    EvalOptions,
    make_tokenizer,
    mlp,
    prepare,
    sample_batch,
    state_encoder,
)
from minirl.encoders import ENCODERS
from minirl.tokenizer import Tokenizer

# ---------------------------------------------------------------------------------------------- config


@dataclass
class Config:
    """CORL's halfcheetah-medium-v2 IQL settings (rewards not rescaled, states normalized)."""

    hidden: Annotated[int, "[1, 65_536]"] = 256
    n_hidden: Annotated[int, "[1, 64]"] = 2
    # BabyAI's state encoder: "minirl" (the shared BabyAIEncoder) or "paper" (the official LEAP model's CNN + BatchNorm
    # + FiLM, --obs full only; encoders.PaperEncoder), so a table can give every method the same one
    encoder: Annotated[str, ENCODERS] = "minirl"
    gamma: Annotated[float, "[0, 1]"] = 0.99
    target_update_rate: Annotated[float, "(0, 1]"] = 0.005  # Polyak factor of the target critics
    # τ: 0.5 = mean (SARSA), -> 1 = max over the data's actions
    expectile: Annotated[float, "(0, 1)"] = 0.7
    # β: inverse temperature of the advantage weights (0 = plain BC)
    beta: Annotated[float, "[0, 1e6]"] = 3.0
    exp_adv_max: Annotated[float, "(0, 1e12]"] = 100.0  # clip on exp(β A)
    log_std_min: Annotated[float, "[-100, 100]"] = -20.0
    log_std_max: Annotated[float, "[-100, 100]"] = 2.0
    # training (read by the shared loop in minirl/train.py). CORL anneals only the actor's lr with a cosine; the
    # shared loop has one schedule, so all three networks follow the cosine (down to 10% of lr).
    steps: Annotated[int, "[1, 100_000_000]"] = 1_000_000
    batch_size: Annotated[int, "[1, 65_536]"] = 256
    lr: Annotated[float, "(0, 1]"] = 3e-4
    weight_decay: Annotated[float, "[0, 100]"] = 0.0
    warmup_steps: Annotated[int, "[0, 100_000_000]"] = 0
    lr_schedule: Annotated[str, ("constant", "cosine")] = "cosine"
    grad_clip: Annotated[float, "(0, 1e12]"] = 1e9  # no clipping, as in CORL


def env_defaults(spec) -> dict:
    """BabyAI: BC's small-net settings (bc.BABYAI_DEFAULTS); the cosine schedule stays."""
    return dict(BABYAI_DEFAULTS) if spec.discrete else {}


# ---------------------------------------------------------------------------------------------- the losses


def expectile_loss(diff: torch.Tensor, tau: float) -> torch.Tensor:
    """mean of |tau - 1(diff < 0)| diff², diff (B,) -> scalar. With diff = x - v, the v minimising it is the
    tau-expectile of x; here diff = Q(s, a) - V(s) and tau > 0.5 punishes V for falling short of Q more than for
    overshooting it, so V rises towards the better actions in the data."""
    # in diff's precision (float64 stays float64)
    weight = torch.abs(tau - (diff < 0).to(diff.dtype))
    return (weight * diff**2).mean()


class QNetwork(nn.Module):
    """Q(s, a) -> (B,). Continuous: MLP on [encoded s, a]. Discrete: MLP on encoded s -> (B, A), then Q at a."""

    def __init__(self, tok: Tokenizer, cfg: Config):
        super().__init__()
        self.discrete = tok.discrete
        self.encoder, width = state_encoder(tok, cfg)
        in_dim = width + (0 if tok.discrete else tok.act_dim)
        self.net = mlp(in_dim, tok.act_dim if tok.discrete else 1, cfg.hidden, cfg.n_hidden)

    def forward(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        h = self.encoder(states)  # (B, F)
        if self.discrete:
            return self.net(h).gather(1, actions[:, None]).squeeze(1)  # (B,)
        return self.net(torch.cat([h, actions], -1)).squeeze(-1)  # (B,)


class Policy(nn.Module):
    """π(a|s): Gaussian N(tanh(MLP(s)), exp(log_std)) for continuous actions, softmax(MLP(s)) for discrete ones."""

    def __init__(self, tok: Tokenizer, cfg: Config):
        super().__init__()
        self.cfg, self.discrete = cfg, tok.discrete
        self.encoder, width = state_encoder(tok, cfg)
        self.net = mlp(width, tok.act_dim, cfg.hidden, cfg.n_hidden)
        if not tok.discrete:
            self.log_std = nn.Parameter(torch.zeros(tok.act_dim))  # (A,), the same for every state

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        """(B, S) -> the mean action (B, A) in [-1, 1], or logits (B, A)."""
        out = self.net(self.encoder(states))
        return out if self.discrete else torch.tanh(out)

    def log_prob(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """log π(a|s) of the dataset's actions: (B,)."""
        out = self(states)
        if self.discrete:
            return F.log_softmax(out, -1).gather(1, actions[:, None]).squeeze(1)
        std = self.log_std.clamp(self.cfg.log_std_min, self.cfg.log_std_max).exp()
        return torch.distributions.Normal(out, std).log_prob(actions).sum(-1)


class Model(nn.Module):
    """V, twin Q with Polyak targets, and the policy; `loss` is L_V + L_Q + L_π (module docstring)."""

    def __init__(self, cfg: Config, tok: Tokenizer):
        super().__init__()
        self.cfg, self.discrete = cfg, tok.discrete
        encoder, width = state_encoder(tok, cfg)
        # V(s)
        self.value = nn.Sequential(encoder, mlp(width, 1, cfg.hidden, cfg.n_hidden))
        self.q1, self.q2 = QNetwork(tok, cfg), QNetwork(tok, cfg)
        # saved, never given to the optimizer
        self.q1_target = copy.deepcopy(self.q1).requires_grad_(False)
        self.q2_target = copy.deepcopy(self.q2).requires_grad_(False)
        self.policy = Policy(tok, cfg)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        cfg = self.cfg
        # (B, S), (B, A) or (B,), (B,)
        s, a, r = batch["states"], batch["actions"], batch["rewards"]
        s_next, done = batch["next_states"], batch["dones"]  # (B, S), (B,)

        with torch.no_grad():
            # (B,) Q'(s, a), no gradient
            q_target = torch.min(self.q1_target(s, a), self.q2_target(s, a))
            # (B,) the backup through V(s')
            y = r + cfg.gamma * (1 - done) * self.value(s_next).squeeze(-1)

        # (B,) Q'(s, a) - V(s); its gradient reaches only V
        advantage = q_target - self.value(s).squeeze(-1)
        value_loss = expectile_loss(advantage, cfg.expectile)
        q_loss = (F.mse_loss(self.q1(s, a), y) + F.mse_loss(self.q2(s, a), y)) / 2
        # (B,) exp(β A), no gradient
        weights = torch.exp(cfg.beta * advantage.detach()).clamp(max=cfg.exp_adv_max)
        policy_loss = -(weights * self.policy.log_prob(s, a)).mean()
        # the separate terms (logs, tests)
        self.losses = {"value": value_loss, "q": q_loss, "policy": policy_loss}
        return value_loss + q_loss + policy_loss

    @torch.no_grad()
    def after_step(self) -> None:
        """Polyak averaging of the target critics: Q' <- (1 - rate) Q' + rate Q."""
        for net, target in ((self.q1, self.q1_target), (self.q2, self.q2_target)):
            for p, p_target in zip(net.parameters(), target.parameters()):
                p_target.lerp_(p, self.cfg.target_update_rate)

    @torch.no_grad()
    def act(self, states: torch.Tensor) -> torch.Tensor:
        """The policy's mean action (N, A), or its most likely action (N,)."""
        out = self.policy(states)
        return out.argmax(-1) if self.discrete else out
