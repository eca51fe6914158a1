"""Lesson 02 · Conservative Q-Learning: a Q-function that distrusts the actions the data never tried.

Kumar, Zhou, Tucker, Levine 2020, "Conservative Q-Learning for Offline Reinforcement Learning" (arXiv:2006.04779).

Offline, a Q-learner's Bellman backup max_a' Q(s', a') (or an actor chasing argmax_a Q) queries actions the data
never tried; their Q-values are unchecked extrapolation, the actor finds the ones that are too high, and values
explode. CQL adds one term to the critic's loss that pushes Q down on actions drawn from everywhere and up on the
dataset's own actions, CQL(H):

    L(Q) = ½ E_D[(Q(s,a) - y)²]  +  α_cql E_s~D[ log Σ_a exp Q(s, a)  -  E_a~D Q(s, a) ]
                  Bellman error                    the conservative penalty (`cql_penalty`)

so the learned Q lower-bounds the policy's value wherever the data is silent. Everything else is SAC (lesson 02):
twin critics Q1, Q2 with Polyak-averaged targets, a squashed Gaussian actor maximising min_i Q_i(s, ã) - α log π(ã|s),
and the entropy temperature α tuned towards entropy -A. With continuous actions the log-sum-exp is estimated by
importance sampling (CQL's Appendix F): n uniform actions (density 0.5^A on [-1, 1]^A) and n actions of the policy
at s and at s' (density π), each Q-value minus its log-density. With BabyAI's 7 discrete actions the sum is exact
and the method is a double DQN plus the penalty (the paper's Atari variant, minus its QR-DQN head).

One module, one optimizer (minirl's shared training loop): `loss` returns critic + actor + temperature losses, and
each network gets exactly its own gradient because of three cuts. The Bellman target and the sampled penalty
actions are computed under no_grad (they are inputs, not outputs, of the critic's regression); the actor's loss
reads the critics through `frozen` (the gradient reaches the actor's actions, not the critics' weights); α's loss
reads log π detached, and the actor's loss reads α detached.

Shapes: B batch, n sampled actions per kind, S state size, A action size (or number of discrete actions).
"""

from __future__ import annotations

import copy
import math
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
from minirl.baselines.sac import Actor, Critic
from minirl.encoders import ENCODERS
from minirl.tokenizer import Tokenizer

# ---------------------------------------------------------------------------------------------- config


@dataclass
class Config:
    """CQL(H) with SAC, as in the authors' JaxCQL defaults for D4RL locomotion (young-geng/JaxCQL, which CORL
    ports): 256-256 networks, one learning rate 3e-4 for actor and critics, α_cql = 5, n = 10, importance sampling,
    no entropy term in the backup. (CORL's halfcheetah-medium file uses α_cql = 10 and a 10x smaller actor lr;
    the shared loop has one learning rate, so we keep JaxCQL's consistent set.)"""

    hidden: Annotated[int, "[1, 65_536]"] = 256
    # BabyAI's Q-network; the continuous actor and critics are SAC's 2-layer ones
    n_hidden: Annotated[int, "[1, 64]"] = 2
    # BabyAI's state encoder: "minirl" (the shared BabyAIEncoder) or "paper" (the official LEAP model's CNN + BatchNorm
    # + FiLM, --obs full only; encoders.PaperEncoder), so a table can give every method the same one
    encoder: Annotated[str, ENCODERS] = "minirl"
    gamma: Annotated[float, "[0, 1]"] = 0.99
    target_update_rate: Annotated[float, "(0, 1]"] = 0.005  # Polyak factor of the target critics
    cql_alpha: Annotated[float, "[0, 1e6]"] = 5.0  # α_cql, the weight of the conservative penalty
    # n: actions sampled per kind (uniform, π(s), π(s')) for the log-sum-exp
    cql_n_actions: Annotated[int, "[1, 1000]"] = 10
    # training (read by the shared loop in minirl/train.py)
    steps: Annotated[int, "[1, 100_000_000]"] = 1_000_000
    batch_size: Annotated[int, "[1, 65_536]"] = 256
    lr: Annotated[float, "(0, 1]"] = 3e-4
    weight_decay: Annotated[float, "[0, 100]"] = 0.0
    warmup_steps: Annotated[int, "[0, 100_000_000]"] = 0
    lr_schedule: Annotated[str, ("constant", "cosine")] = "constant"
    grad_clip: Annotated[float, "(0, 1e12]"] = 1e9  # no clipping, as in the reference code


def env_defaults(spec) -> dict:
    """BabyAI: BC's small-net settings (bc.BABYAI_DEFAULTS) and α_cql = 1 (the discrete-action value d3rlpy uses;
    the paper's Atari runs used 0.5-4)."""
    return dict(BABYAI_DEFAULTS, cql_alpha=1.0) if spec.discrete else {}


# ---------------------------------------------------------------------------------------------- the penalty


def cql_penalty(q_sampled: torch.Tensor, q_data: torch.Tensor) -> torch.Tensor:
    """CQL(H)'s conservative term: mean over states of  log Σ_j exp q_sampled[:, j]  -  q_data.

    q_sampled (B, M): Q at M actions per state: all the discrete actions, or (continuous) importance-sampled ones
    already minus their log-density. q_data (B,): Q at the dataset's action. Returns a scalar. Minimising it lowers a
    soft maximum of Q over all actions and raises Q where the data is: Q(s, a_data) - Q elsewhere grows.
    """
    return (torch.logsumexp(q_sampled, dim=1) - q_data).mean()


def frozen(net: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    """net(*inputs) computed with net's weights detached: gradients reach the inputs (the actor's actions) but not
    the weights, so the actor's loss moves the actor and leaves the critic alone."""
    weights = {name: p.detach() for name, p in net.named_parameters()}
    return torch.func.functional_call(net, weights, inputs)


# ---------------------------------------------------------------------------------------------- model


class Model(nn.Module):
    """Continuous: SAC's actor, twin critics and their targets, log α. Discrete: one Q-network (B, S) -> (B, A)."""

    def __init__(self, cfg: Config, tok: Tokenizer):
        super().__init__()
        self.cfg, self.discrete, self.act_dim = cfg, tok.discrete, tok.act_dim
        if tok.discrete:
            encoder, width = state_encoder(tok, cfg)  # minirl/encoders.py (cfg.encoder)
            self.q = nn.Sequential(encoder, mlp(width, tok.act_dim, cfg.hidden, cfg.n_hidden))
            self.targets = [(self.q, self._target(self.q, "q_target"))]
            return
        S, A = tok.state_size, tok.act_dim
        self.actor = Actor(S, A, cfg.hidden)  # a = tanh(mu + sigma eps), actions in [-1, 1]^A
        self.q1, self.q2 = Critic(S, A, cfg.hidden), Critic(S, A, cfg.hidden)
        self.targets = [
            (self.q1, self._target(self.q1, "q1_target")),
            (self.q2, self._target(self.q2, "q2_target")),
        ]
        # SAC's entropy temperature, α = exp(log_alpha)
        self.log_alpha = nn.Parameter(torch.zeros(()))
        self.target_entropy = -float(A)

    def _target(self, net: nn.Module, name: str) -> nn.Module:
        """A frozen copy of `net`, registered under `name` (saved with the checkpoint, never given to the optimizer)."""
        self.add_module(name, copy.deepcopy(net).requires_grad_(False))
        return getattr(self, name)

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return self._discrete_loss(batch) if self.discrete else self._continuous_loss(batch)

    def _continuous_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Critic (Bellman + α_cql penalty) + actor + temperature losses; see the module docstring for the cuts."""
        cfg = self.cfg
        s, a, r = batch["states"], batch["actions"], batch["rewards"]  # (B, S), (B, A), (B,)
        s_next, done = batch["next_states"], batch["dones"]  # (B, S), (B,)
        B, n, A = len(s), cfg.cql_n_actions, self.act_dim

        with torch.no_grad():  # y = r + gamma (1 - done) min_i Q_i'(s', a'),  a' ~ pi(.|s')
            a_next, _, _ = self.actor.sample(s_next)
            # (B,)
            q_next = torch.min(self.q1_target(s_next, a_next), self.q2_target(s_next, a_next))
            y = r + cfg.gamma * (1 - done) * q_next

            # the penalty's samples: n uniform actions, n from pi(.|s), n from pi(.|s'), all scored at s
            uniform = torch.rand(B, n, A, device=s.device) * 2 - 1  # (B, n, A), density 0.5^A
            a_pi, logp_pi, _ = self.actor.sample(s.repeat_interleave(n, 0))  # (B n, A), (B n,)
            a_pi_next, logp_pi_next, _ = self.actor.sample(s_next.repeat_interleave(n, 0))
            # (B, 3n, A)
            sampled = torch.cat([uniform, a_pi.view(B, n, A), a_pi_next.view(B, n, A)], 1)
            log_density = torch.cat(
                [
                    torch.full((B, n), A * math.log(0.5), device=s.device),
                    logp_pi.view(B, n),
                    logp_pi_next.view(B, n),
                ],
                1,
            )  # (B, 3n)
            s_sampled = s.repeat_interleave(3 * n, 0)  # (B 3n, S), row b*3n + j is state b

        bellman, penalty = 0.0, 0.0
        for q in (self.q1, self.q2):
            q_data = q(s, a)  # (B,)
            q_sampled = q(s_sampled, sampled.reshape(-1, A)).view(B, 3 * n) - log_density  # (B, 3n)
            bellman = bellman + F.mse_loss(q_data, y)
            penalty = penalty + cql_penalty(q_sampled, q_data)
        critic_loss = bellman + cfg.cql_alpha * penalty

        # (B, A), (B,): reparameterised, so gradients reach the actor
        a_new, logp, _ = self.actor.sample(s)
        q_new = torch.min(frozen(self.q1, s, a_new), frozen(self.q2, s, a_new))  # (B,)
        actor_loss = (self.log_alpha.exp().detach() * logp - q_new).mean()
        alpha_loss = -(self.log_alpha * (logp.detach() + self.target_entropy)).mean()
        # the separate terms, kept (with their graphs) for logging and for the test that checks where each one's
        # gradient goes; the optimizer only ever sees their sum
        self.losses = {
            "bellman": bellman,
            "cql_penalty": penalty,
            "actor": actor_loss,
            "alpha": alpha_loss,
        }
        return critic_loss + actor_loss + alpha_loss

    def _discrete_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Double-DQN Bellman error + α_cql (log Σ_a exp Q(s, a) - Q(s, a_data)): the sum is over all A actions."""
        cfg = self.cfg
        s, a, r = batch["states"], batch["actions"], batch["rewards"]  # (B, S) int, (B,) int, (B,)
        s_next, done = batch["next_states"], batch["dones"]  # (B, S), (B,)
        q_all = self.q(s)  # (B, A)
        q_data = q_all.gather(1, a[:, None]).squeeze(1)  # (B,)
        with torch.no_grad():  # the online net picks a', the target net scores it (double DQN)
            a_next = self.q(s_next).argmax(1, keepdim=True)  # (B, 1)
            y = r + cfg.gamma * (1 - done) * self.q_target(s_next).gather(1, a_next).squeeze(1)
        bellman = F.mse_loss(q_data, y)
        penalty = cql_penalty(q_all, q_data)
        self.losses = {"bellman": bellman, "cql_penalty": penalty}
        return bellman + cfg.cql_alpha * penalty

    @torch.no_grad()
    def after_step(self) -> None:
        """Polyak averaging: target <- (1 - rate) target + rate online, after every optimizer step."""
        for net, target in self.targets:
            for p, p_target in zip(net.parameters(), target.parameters()):
                p_target.lerp_(p, self.cfg.target_update_rate)

    @torch.no_grad()
    def q_values(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """min_i Q_i(s, a) (continuous) or Q(s, a) (discrete) for (B, S) states and (B, A) / (B,) actions -> (B,)."""
        if self.discrete:
            return self.q(states).gather(1, actions[:, None]).squeeze(1)
        return torch.min(self.q1(states, actions), self.q2(states, actions))

    @torch.no_grad()
    def act(self, states: torch.Tensor) -> torch.Tensor:
        """The actor's mean action tanh(mu) (N, A), or argmax_a Q(s, a) (N,)."""
        if self.discrete:
            return self.q(states).argmax(-1)
        return self.actor.sample(states)[2]
