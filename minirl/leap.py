"""Lesson 06 · LEAP: planning by iterative energy minimization with a bidirectional (masked) transformer.

Chen, Du, Chen, Tenenbaum & Vela, ICLR 2023, "Planning with Sequence Models through Iterative Energy Minimization"
(arXiv:2303.16189; official BabyAI code: github.com/hychen-naza/LEAP, read for the settings below).

DT and TT write a plan left to right and can never revise an early action once the later ones are known. LEAP runs
the same transformer *bidirectionally*, trains it as a masked language model (BERT) over the plan τ = (a_1 .. a_L)
that follows the current state s, and reads it as an energy over whole plans, the negative pseudo-log-likelihood:

    E(τ) = - Σ_i log p_θ(a_i | s, τ_-i)          τ_-i: every plan token except a_i (which is [MASK])

A plan has low energy when each of its actions is what the model expects given all the others. Planning minimizes
E: start from the plan predicted from all-[MASK] tokens, then again and again pick one token, mask it and resample it
from p_θ(a_i | s, τ_-i) (a Gibbs step), recording E after every step. Execute a_1, observe, plan again.
Cost per decision: (iterations + 2) forward passes (the start, one per refinement, the final E) of P rows each;
a Gibbs step at a random token needs only one of those rows, so when acting without recording E (the default,
EvalOptions.energy_trace) a decision is iterations + 1 passes of one row per plan.

Tokens, one sequence per plan: [s, a_1, ..., a_L]. Token 0 is the current state, with the goal pooled in (BabyAI:
the mission words); tokens 1..P are the plan, each an action id or [MASK]. BabyAI: one token per step, 7 actions
and [END]: a BabyAI episode ends when its task is done, so a plan that runs past the end holds [END] for the steps
after it. (With plain padding, a full plan always says "horizon more actions follow", and the model never learns to
put the finishing action first: on PickupLoc it gave `pickup` 1% probability where the bot picked up, and
succeeded in 4% of episodes.) The executed first step is never [END].
HalfCheetah (an extension: the paper only used discrete actions): each action dimension is cut into n_bins bins by
the shared Discretizer and is a token of its own, step-major (a_1 dim 1..6, a_2 dim 1..6, ...), so P = horizon × 6;
the energy and the Gibbs steps then run over dimensions as well as steps, and the executed action is the bins'
representative values of step 1's six tokens.

Where this file departs from the official code (each for a stated reason):
- The official model also feeds horizon-1 future *state* tokens, placeholders that carry only the goal (the future is
  unknown when planning); here the goal is in token 0, so they would add nothing but positions and are left out.
  That, the official timestep embedding, its per-demo sampling and its state encoder (a CNN with BatchNorm and FiLM,
  encoders.PaperEncoder) are each one Config field (future_states, timestep, sampling, encoder), off by default and
  in no preset; measured one at a time on GoToLocalS7N5 --obs full in docs/results.md (issue 14).
- Each departure below is one Config field, and `--set preset=paper` turns them all to the official choice
  (PRESETS; measured on GoToLocal, 500 demos, 1600 steps, 3 seeds, docs/results.md: paper 63%, minirl 75%, DT 68%).
- objective: official training masks one plan token at a time (every position in turn, i.e. it minimizes E of the
  data plan: "one"). By default each training plan hides k ~ Uniform{1..P} tokens ("uniform_k"), so the model also
  learns the all-[MASK] start it is asked for when planning begins (the official code asks for it but never trains
  it: that fill alone succeeded 21% of the time, uniform_k's 74%).
- execution: official BabyAI runs execute the whole plan before replanning ("open_loop"); by default only a_1
  ("replan"). Measured level (77% vs 75% at temperature 1), open-loop plans less often.
- temperature: the official code takes the argmax of p(a_i | s, τ_-i) (0); the paper describes sampling it (Gibbs),
  the default here (1). With egocentric, partial views a deterministic planner loops when the goal is out of sight:
  the argmax cost 25 points when replanning, 18 open-loop.
- The official `sample_iteration` counts the initial fill as an iteration; `iterations` here counts refinements.
Official settings (test_run.sh, run_leap.py): 500 bot demos per level, 200 epochs of 8 batches of 64 (1600 steps;
an item is a demo, then a uniformly drawn step of it; here a step is drawn uniformly from all steps); GoToLocal /
PickupLoc horizon 5 with sample_iteration 10, mazes horizon 10 with 30; minGPT with 3 layers, 4 heads, width 128;
AdamW lr 6e-4, betas (0.9, 0.95), warmup over 10 240 tokens (32 steps), then cosine to 10% by 15 000 tokens (about
step 47) and 10% after that (here: cosine over all steps); 40 evaluation episodes for each of seeds 123, 231, 321.
On PickupLoc the official training feeds the model no action tokens (LEAP_GPT.forward checks the task name;
planning does feed them), and each plan has a random horizon in 1..5.

Shapes: B batch (plans), P plan tokens = horizon steps × A tokens per step (A = 1 for BabyAI, act_dim for HalfCheetah),
V token vocabulary (7 actions + [END] for BabyAI, or n_bins; id V is [MASK]), S state size, D width, N environments
acting in parallel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from minirl.encoders import ENCODERS, PaperEncoder, babyai_encoder
from minirl.tokenizer import Discretizer, Tokenizer
from minirl.transformer import TokenLayout, Transformer, TransformerConfig, init_weights

# ---------------------------------------------------------------------------------------------- config


# The planning and training options that differ between the official BabyAI code and minirl's defaults. A Config
# field left at None takes its value from Config.preset; a value given with --set always wins.
PRESETS = {
    # minirl's defaults, which measured best here (docs/results.md, "LEAP as its paper ran it")
    "minirl": dict(objective="uniform_k", execution="replan", temperature=1.0, iterations=10),
    # the official code (run_leap.py, mingpt/leap_model_babyai.py, mingpt/utils.py): every position masked in turn,
    # argmax refills, the whole plan executed before replanning, sample_iteration 10 = the fill + 9 re-mask rounds
    # (mazes: --set horizon=10 --set iterations=29)
    "paper": dict(objective="one", execution="open_loop", temperature=0.0, iterations=9),
}


@dataclass
class Config:
    # which defaults the four fields below take when left at None: "minirl" or "paper" (see PRESETS)
    preset: Annotated[str, tuple(PRESETS)] = "minirl"
    # training objective. "one" (the paper's): every plan position masked in turn, one at a time, so the loss is
    # the data plan's energy E(τ) per token; "uniform_k": k ~ Uniform{1..n} of a plan's n tokens hidden at once
    objective: Annotated[str | None, ("one", "uniform_k")] = None
    # acting. "open_loop" (the paper's): act the planned steps in order, plan again when the plan runs out
    # (or reaches [END]); "replan": act step 1 only and plan again at every step
    execution: Annotated[str | None, ("open_loop", "replan")] = None
    # planning (official GoToLocal settings)
    # steps in a plan (the model is trained on plans of this length)
    horizon: Annotated[int, "[1, 1000]"] = 5
    # refinement steps per decision after the all-[MASK] fill (official sample_iteration counts the fill: 10 = 9 here)
    iterations: Annotated[int | None, "[0, 10_000]"] = None
    # how a token is (re)filled: a sample of p(a_i | s, τ_-i)^(1/T) (the paper's text, Gibbs); 0: the argmax (the
    # official code)
    temperature: Annotated[float | None, "[0, 100]"] = None
    # which token a refinement re-masks: "random" (official) or "max_energy"
    resample: Annotated[str, ("random", "max_energy")] = "random"
    n_bins: Annotated[int, "[2, 10_000]"] = 64  # continuous actions only: bins per action dimension
    # the official model's parts, each alone (issue 14 experiments; BabyAI --obs full only; not in any preset):
    # the state encoder: "minirl" (the shared BabyAIEncoder) or "paper" (encoders.PaperEncoder: CNN + BatchNorm +
    # FiLM from a GRU over the mission and from the pose)
    encoder: Annotated[str, ENCODERS] = "minirl"
    # placeholder future-state tokens, [s, a_1, s'_2, a_2, ..., s'_H, a_H], each action read at the state token
    # before it; s' is the current state with the agent's cell and direction zeroed (the official placeholders)
    future_states: bool = False
    # a timestep embedding added to every token: t = the plan's first step in its episode when training; when
    # acting, t = steps acted so far ("aligned") or that plus the horizon (the official evaluation, "paper")
    timestep: Annotated[str, ("none", "aligned", "paper")] = "none"
    # which step a training plan starts at: uniform over all steps ("step") or a uniform episode, then a uniform
    # step of it ("episode", the official one item per demo)
    sampling: Annotated[str, ("step", "episode")] = "step"
    # model (official: minGPT 3 layers, 4 heads, width 128, dropout 0.1)
    n_layer: Annotated[int, "[1, 64]"] = 3
    n_head: Annotated[int, "[1, 64]"] = 4
    d_model: Annotated[int, "[1, 8192]"] = 128
    dropout: Annotated[float, "[0, 1)"] = 0.1
    # training (read by the shared loop in minirl/train.py; official: AdamW 6e-4, batch 64, cosine to 10%)
    steps: Annotated[int, "[1, 100_000_000]"] = 5000
    batch_size: Annotated[int, "[1, 65_536]"] = 64
    lr: Annotated[float, "(0, 1]"] = 6e-4
    weight_decay: Annotated[float, "[0, 100]"] = 0.1
    # official: 512 * 20 tokens of warmup, ~32 batches of 64 plans of 5 actions
    warmup_steps: Annotated[int, "[0, 100_000_000]"] = 32
    lr_schedule: Annotated[str, ("constant", "cosine")] = "cosine"
    grad_clip: Annotated[float, "(0, 1e12]"] = 1.0

    def __post_init__(self):
        """Fields left at None take the preset's value (a saved run's config.json holds them all filled in)."""
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset '{self.preset}'; valid: {', '.join(PRESETS)}")
        for name, value in PRESETS[self.preset].items():
            if getattr(self, name) is None:
                setattr(self, name, value)


def env_defaults(spec) -> dict:
    """BabyAI: 2000 steps train on 1000 demos in a few CPU minutes. (HalfCheetah keeps 10 refinements of its
    5 × 6 plan tokens: a 1000-step episode already costs 12 000 forward passes.)"""
    return {"steps": 2000} if spec.discrete else {}


@dataclass
class EvalOptions:
    """What `minirl eval` may change in a trained LEAP (`--iterations I --horizon H`, or `--set name=value` for any
    field). Each is the Config field of the same name (see there); None: the run's own value."""

    iterations: Annotated[int | None, "[0, 10_000]"] = None  # refinements per plan
    horizon: Annotated[int | None, "[1, 1000]"] = None  # plan steps, at most the trained horizon
    temperature: Annotated[float | None, "[0, 100]"] = None  # 0: argmax refills
    execution: Annotated[str | None, ("open_loop", "replan")] = None
    resample: Annotated[str | None, ("random", "max_energy")] = None
    # not a Config field: true records E before every refinement in trace["energy_per_iteration"]. Off (None), a
    # refinement with resample "random" is one forward pass of N rows instead of N×P (gibbs_step): the same plans
    energy_trace: bool | None = None


# ---------------------------------------------------------------------------------------------- data


def make_tokenizer(episodes: list[dict], spec, cfg: Config) -> Tokenizer:
    """States as the shared tokenizer gives them; continuous actions also get a per-dimension Discretizer."""
    tok = Tokenizer.fit(episodes, spec.name, spec.discrete, spec.act_dim)
    if not spec.discrete:
        tok.discretizer = Discretizer.fit(
            np.concatenate([ep["actions"] for ep in episodes]), cfg.n_bins, "quantile"
        )
    return tok


def prepare(episodes: list[dict], tok: Tokenizer, cfg: Config) -> dict:
    """All steps of all episodes: state (T, S), action tokens (T, A), the steps left in the episode (T,), and
    whether the episode ended by termination (T,) bool: BabyAI's success, after which a plan holds [END] (the
    HalfCheetah time limit cuts episodes without ending them; plans past the cut are padding)."""
    actions = np.concatenate([ep["actions"] for ep in episodes])
    tokens = actions.reshape(len(actions), 1) if tok.discrete else tok.discretizer.encode(actions)
    ended = [tok.discrete and bool(ep["terminations"][-1]) for ep in episodes]
    states = [tok.states(ep) for ep in episodes]
    # with the timestep embedding, one more column: the step's index in its episode (Model.split_timestep)
    if cfg.timestep != "none":
        states = [np.concatenate([s, np.arange(len(s))[:, None]], 1) for s in states]
    lengths = np.array([len(ep["actions"]) for ep in episodes])
    return {
        "states": torch.from_numpy(np.concatenate(states)),
        "episode_start": torch.from_numpy(np.cumsum(lengths) - lengths),  # (E,)
        "episode_length": torch.from_numpy(lengths),  # (E,)
        "tokens": torch.from_numpy(tokens.astype(np.int64)),
        "steps_left": torch.from_numpy(
            np.concatenate([np.arange(len(ep["actions"]), 0, -1) for ep in episodes])
        ),
        "ended": torch.from_numpy(
            np.concatenate([np.full(len(ep["actions"]), e) for ep, e in zip(episodes, ended)])
        ),
        "end_token": tok.act_dim,
    }


def sample_batch(data: dict, cfg: Config, rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """B plans: a uniformly drawn step's state and the horizon actions from there on. Steps past the episode's end are
    [END] tokens if it ended by termination (BabyAI), else padding (real = False). Gathered where the data is."""
    device = data["tokens"].device
    if cfg.sampling == "episode":  # a uniform episode, then a uniform step of it
        ep = rng.integers(len(data["episode_length"]), size=cfg.batch_size)
        lengths, firsts = data["episode_length"].cpu().numpy(), data["episode_start"].cpu().numpy()
        within = (rng.random(cfg.batch_size) * lengths[ep]).astype(np.int64)
        start = torch.from_numpy(firsts[ep] + within).to(device)
    else:
        start = torch.from_numpy(rng.integers(len(data["states"]), size=cfg.batch_size)).to(device)
    offset = torch.arange(cfg.horizon, device=device)  # (horizon,)
    inside = offset[None] < data["steps_left"][start, None]  # (B, horizon)
    # (B, horizon); outside reads any valid row
    rows = torch.where(inside, start[:, None] + offset, start[:, None])
    tokens = data["tokens"][rows]  # (B, horizon, A)
    ended = data["ended"][start, None]  # (B, 1)
    tokens = torch.where((~inside & ended)[..., None], data["end_token"], tokens)
    real = inside | ended  # (B, horizon)
    A = tokens.shape[2]
    return {
        "states": data["states"][start],  # (B, S)
        "plan": tokens.reshape(cfg.batch_size, -1),  # (B, P) step-major
        "real": real.repeat_interleave(A, dim=1),
    }  # (B, P)


# ---------------------------------------------------------------------------------------------- model


class Model(nn.Module):
    """The shared Transformer, bidirectional, over [state, plan tokens]; a logits head at every plan token."""

    def __init__(self, cfg: Config, tok: Tokenizer):
        super().__init__()
        self.cfg = cfg
        D = cfg.d_model
        self.tokens_per_step = 1 if tok.discrete else tok.act_dim  # A
        # BabyAI's [END], after the last action of an episode
        self.end_id = tok.act_dim if tok.discrete else None
        self.vocab = tok.act_dim + 1 if tok.discrete else cfg.n_bins  # V
        self.mask_id = self.vocab  # the [MASK] token's id
        P = cfg.horizon * self.tokens_per_step
        # BabyAI: the shared encoder (minirl/encoders.py)
        self.embed_state = (
            babyai_encoder(tok.layout, D, cfg.encoder)
            if tok.discrete
            else nn.Linear(tok.state_size, D)
        )
        self.embed_action = nn.Embedding(self.vocab + 1, D)  # the last row embeds [MASK]
        if cfg.future_states or cfg.timestep != "none":
            if not (tok.discrete and tok.layout.full):
                raise ValueError("future_states and timestep are for BabyAI --obs full only")
            self.layout = tok.layout
        self.tokens = 2 * P if cfg.future_states else 1 + P  # tokens per plan
        self.embed_position = nn.Embedding(self.tokens, D)
        if cfg.timestep != "none":
            self.embed_timestep = nn.Embedding(1025, D)  # the official max_timestep 1024, + 1
        self.drop = nn.Dropout(cfg.dropout)
        self.transformer = Transformer(
            TransformerConfig(cfg.n_layer, cfg.n_head, D, cfg.dropout, max_tokens=self.tokens)
        )
        self.predict_action = nn.Linear(D, self.vocab)
        self.apply(init_weights)
        if isinstance(self.embed_state, PaperEncoder):
            self.embed_state.reset_parameters()  # the official init, not GPT-2's

    def split_timestep(self, states):
        """(B, S[+1]) -> (states (B, S), t (B,) or None). With cfg.timestep on, LEAP's state rows carry the step
        index as one extra last column (prepare, Agent.act)."""
        if self.cfg.timestep == "none":
            return states, None
        return states[:, :-1], states[:, -1].clamp(0, 1024)

    def placeholder(self, states):
        """The official future-state placeholder of each state (B, S): the agent's cell and direction zeroed, the
        grid, the goal cell and the mission kept."""
        g = self.layout.grid_values
        out = states.clone()
        out[:, g : g + 3] = 0  # direction, agent x, agent y
        return out

    def forward(self, states, plan, real=None, repeats=1):
        """Logits of every plan token given everything visible: (B·repeats, P, V).

        states (B, S); plan (B·repeats, P) ints in [0, V], V = [MASK], any P <= horizon × A; each state serves
        `repeats` consecutive plans (conditionals' P copies), so the state encoder runs once per state; real
        (B·repeats, P) bool, False = padding, hidden from every query (None: all real). The tokens are laid out as
        `token_layout` says. Nothing is causal: every token sees every other, the future included.
        """
        P = plan.shape[1]
        states, t = self.split_timestep(states)
        if self.cfg.future_states:
            # [s, a_1, s', a_2, ..., s', a_P]: (B', 2P, D)
            B = len(states)
            both = self.embed_state(torch.cat([states, self.placeholder(states)]))  # (2B, D)
            now, later = (e.repeat_interleave(repeats, 0) for e in both.split(B))  # (B', D) each
            # (B', P, 2, D): step t's state token, then its action token
            x = torch.stack([later[:, None].expand(-1, P, -1), self.embed_action(plan)], 2)
            x[:, 0, 0] = now
            x = x.flatten(1, 2)  # (B', 2P, D)
            if real is not None:  # state tokens are real
                real = torch.stack([torch.ones_like(real), real], 2).flatten(1)
            padding_mask = real
        else:
            # (B', 1+P, D)
            s = self.embed_state(states).repeat_interleave(repeats, 0)
            x = torch.cat([s[:, None], self.embed_action(plan)], 1)
            # (B', 1+P); the state is real
            padding_mask = None if real is None else F.pad(real, (1, 0), value=True)
        x = x + self.embed_position.weight[: x.shape[1]]
        if t is not None:
            x = x + self.embed_timestep(t).repeat_interleave(repeats, 0)[:, None]
        hidden = self.transformer(self.drop(x), causal=False, padding_mask=padding_mask)
        # (B', P, V): one prediction per plan token, read at the state token before it / at the token itself
        return self.predict_action(hidden[:, 0::2] if self.cfg.future_states else hidden[:, 1:])

    def token_layout(self, plan) -> TokenLayout:
        """What forward's 1+P tokens are for one plan (P,): token 0 the state (the goal is in it), token 1+i plan
        token i = step i // A, action dimension i % A, a [MASK] ("mask") or an action id ("plan"). The output at a
        plan token predicts that token, so step t's action is read at tokens 1 + tA ... (t+1)A."""
        A = self.tokens_per_step
        types = ["mask" if int(v) == self.mask_id else "plan" for v in plan]
        # [s, a_1, s', a_2, ...]: step t's action read at the state token 2t
        if self.cfg.future_states:
            T = 2 * len(plan)
            kinds = [k for v in types for k in ("state", v)]
            return TokenLayout(kinds, [i // 2 for i in range(T)], list(range(0, T, 2)))
        return TokenLayout(
            ["state"] + types,
            [0] + [i // A for i in range(len(plan))],
            list(range(1, 1 + len(plan), A)),
        )

    def loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Masked-LM cross-entropy in nats per hidden token, by cfg.objective ("one" or "uniform_k")."""
        if self.cfg.objective == "one":
            return self.loss_one(batch)
        if self.cfg.objective == "uniform_k":
            return self.loss_uniform_k(batch)
        raise ValueError(f"unknown objective '{self.cfg.objective}'; valid: one, uniform_k")

    def loss_one(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The paper's objective: every real token of a plan hidden in turn, one at a time, predicted from all the
        others. Summed over a plan's positions this is its energy E(τ) = -Σ_i log p(a_i | s, τ_-i), so training
        lowers the energy of the data's plans; returned per token (the sum over the batch's real tokens / their
        count). Never shows the model the all-[MASK] plan that planning starts from."""
        plan, real = batch["plan"], batch["real"]  # (B, P)
        log_p = self.conditionals(batch["states"], plan, real)  # (B, P, V)
        token_energy = -log_p.gather(-1, plan[..., None]).squeeze(-1)  # (B, P)
        return token_energy[real].mean()

    def loss_uniform_k(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Hide k ~ Uniform{1..n} of a plan's n real tokens at once, predict them from the rest.

        A fresh k per plan covers both things planning asks for: k = n (all [MASK], the start) and k = 1 (one token
        hidden among the others: one term of the energy, one refinement step)."""
        plan, real = batch["plan"], batch["real"]  # (B, P)
        n_real = real.sum(1, keepdim=True)  # (B, 1)
        k = (torch.rand(n_real.shape, device=plan.device) * n_real).long() + 1  # (B, 1) in 1..n
        # padding sorts last
        order = torch.rand(plan.shape, device=plan.device).masked_fill(~real, 2.0)
        # (B, P): the first k real tokens of a random order
        masked = order.argsort(1).argsort(1) < k
        logits = self(batch["states"], plan.masked_fill(masked, self.mask_id), real)
        return F.cross_entropy(logits[masked], plan[masked])

    # ------------------------------------------------------------------------------------------ energy, planning

    def conditionals(
        self, states: torch.Tensor, plan: torch.Tensor, real: torch.Tensor | None = None
    ) -> torch.Tensor:
        """log p(a_i = v | s, τ_-i) for every position i and action v: (B, P, V), in ONE forward pass of B×P rows.

        Row i of a plan's P copies has only token i replaced by [MASK]; the diagonal of the outputs is each
        position's prediction from all the other tokens. real (B, P): False = padding, hidden in every copy."""
        B, P = plan.shape
        # (P, P): copy i masks token i
        one_masked = torch.eye(P, dtype=torch.bool, device=plan.device)
        copies = torch.where(one_masked, self.mask_id, plan[:, None, :])  # (B, P, P)
        rows_real = None if real is None else real.repeat_interleave(P, 0)  # (B×P, P)
        # (B, P, P, V)
        logits = self(states, copies.reshape(B * P, P), rows_real, repeats=P).view(B, P, P, -1)
        i = torch.arange(P, device=plan.device)
        return logits[:, i, i].log_softmax(-1)  # (B, P, V)

    def energy(self, states: torch.Tensor, plan: torch.Tensor) -> torch.Tensor:
        """E(τ) = - Σ_i log p(a_i | s, τ_-i) of each plan: states (B, S), plan (B, P) -> (B,) in nats."""
        log_p = self.conditionals(states, plan)  # (B, P, V)
        return -log_p.gather(-1, plan[..., None]).squeeze(-1).sum(1)

    def choose(
        self,
        log_p: torch.Tensor,
        generator: torch.Generator | None = None,
        temperature: float | None = None,
    ) -> torch.Tensor:
        """(..., V) log-probabilities -> (...) action ids: the argmax (temperature 0), or a sample at that
        temperature (None: cfg.temperature)."""
        temperature = self.cfg.temperature if temperature is None else temperature
        if temperature == 0:
            return log_p.argmax(-1)
        probs = (log_p / temperature).softmax(-1)
        return torch.multinomial(probs.reshape(-1, self.vocab), 1, generator=generator).view(
            log_p.shape[:-1]
        )

    def acting_first(self, log_p: torch.Tensor) -> torch.Tensor:
        """(B, P, V) log-probabilities with [END] ruled out for step 1's tokens: the executed step is an action."""
        if self.end_id is None:
            return log_p
        log_p = log_p.clone()
        log_p[:, : self.tokens_per_step, self.end_id] = float("-inf")
        return log_p

    def gibbs_step(
        self,
        states,
        plan,
        generator: torch.Generator | None = None,
        temperature: float | None = None,
    ):
        """refine_step with resample="random", without the energy: the same new plan (the same token i and the same
        draw from the generator) from ONE forward pass of B rows, where refine_step's energy needs B×P.

        Only copy i of conditionals() is read for the Gibbs step, so only that copy is run. states (B, S), plan
        (B, P) -> new plan (B, P)."""
        B, P = plan.shape
        # (B,) any token (official)
        i = torch.randint(P, (B,), generator=generator, device=plan.device)
        rows = torch.arange(B, device=plan.device)
        masked = plan.clone()
        masked[rows, i] = self.mask_id  # copy i: token i hidden, every other one visible
        log_p = self.acting_first(self(states, masked).log_softmax(-1))  # (B, P, V)
        plan = plan.clone()
        plan[rows, i] = self.choose(log_p[rows, i], generator, temperature)
        return plan

    def refine_step(
        self,
        states,
        plan,
        generator: torch.Generator | None = None,
        temperature: float | None = None,
        resample: str | None = None,
    ):
        """One iteration of energy minimization: in each plan re-mask one token and refill it given all the others.

        states (B, S), plan (B, P) -> (new plan (B, P), energy (B,) of the plan before this step). temperature and
        resample: None takes cfg's."""
        resample = self.cfg.resample if resample is None else resample
        log_p = self.conditionals(states, plan)  # (B, P, V): p(a_i | s, τ_-i) for every i
        token_energy = -log_p.gather(-1, plan[..., None]).squeeze(-1)  # (B, P): each term of E(τ)
        B, P = plan.shape
        if resample == "max_energy":
            i = token_energy.argmax(1)  # (B,) the token the rest of the plan disagrees with most
        else:
            # (B,) any token (official)
            i = torch.randint(P, (B,), generator=generator, device=plan.device)
        rows = torch.arange(B, device=plan.device)
        plan = plan.clone()
        # a Gibbs step on token i (temperature 0: the greedy one)
        plan[rows, i] = self.choose(self.acting_first(log_p)[rows, i], generator, temperature)
        return plan, token_energy.sum(1)

    @torch.no_grad()
    def plan(
        self,
        states,
        horizon: int | None = None,
        iterations: int | None = None,
        generator: torch.Generator | None = None,
        temperature: float | None = None,
        resample: str | None = None,
        track_energy: bool = True,
    ):
        """Plans for states (B, S) -> (plan (B, horizon×A), energies (B, iterations + 1)).

        Start: every token [MASK], all filled in one pass from the state alone. Then `iterations` refine_steps.
        energies[:, j] is E before refinement j; the last column is E of the returned plan. None: cfg's value.
        track_energy=False with resample "random": gibbs_step in place of refine_step, the same plan at ~1/P of
        the cost, and energies None (max_energy needs every token's energy, so it always tracks)."""
        horizon = horizon or self.cfg.horizon
        iterations = self.cfg.iterations if iterations is None else iterations
        resample = self.cfg.resample if resample is None else resample
        if resample not in ("random", "max_energy"):
            raise ValueError(f"unknown resample '{resample}'; valid: random, max_energy")
        B = len(states)
        P = horizon * self.tokens_per_step
        plan = torch.full((B, P), self.mask_id, dtype=torch.long, device=states.device)
        # (B, P) the start
        start = self.acting_first(self(states, plan).log_softmax(-1))
        plan = self.choose(start, generator, temperature)
        if not track_energy and resample == "random":
            for _ in range(iterations):
                plan = self.gibbs_step(states, plan, generator, temperature)
            return plan, None
        energies = []
        for _ in range(iterations):
            plan, energy = self.refine_step(states, plan, generator, temperature, resample)
            energies.append(energy)
        energies.append(self.energy(states, plan))
        return plan, torch.stack(energies, 1)


# ---------------------------------------------------------------------------------------------- acting


class Agent:
    """Plans in N environments at once (one batched plan() for every env that needs a plan) and acts on the plans.

    execution "replan": every running env plans at every step and acts its plan's step 1. "open_loop" (the paper's):
    each env acts its plan's steps in order, without looking at what it observes meanwhile, and plans again when
    the plan has run out (every step acted, or the next one is [END]). The other options: None takes the run's
    Config.

    trace["energy_per_iteration"][j]: the plan energy at each refinement of planning call j (mean over the envs that
    planned then), iterations + 1 numbers, so one sees E fall within every decision (only with energy_trace=True);
    trace["planned"][j]: how many envs planned in call j; trace["latency_ms"][t]: the time of step t's act()
    (planning included, if any).
    """

    def __init__(self, model: Model, tok: Tokenizer, **options):
        """options: EvalOptions fields (iterations=2, execution="open_loop", ...); None or left out: the run's
        Config."""
        self.model = model
        self.tok = tok
        cfg = model.cfg
        given = EvalOptions(**options)
        self.iterations = cfg.iterations if given.iterations is None else int(given.iterations)
        self.horizon = cfg.horizon if given.horizon is None else int(given.horizon)
        self.temperature = (
            cfg.temperature if given.temperature is None else float(given.temperature)
        )
        self.execution = cfg.execution if given.execution is None else given.execution
        self.resample = cfg.resample if given.resample is None else given.resample
        self.energy_trace = bool(given.energy_trace)
        if not 1 <= self.horizon <= cfg.horizon:
            raise ValueError(
                f"horizon must be in 1..{cfg.horizon} (the plan length the model was trained on)"
            )
        if self.iterations < 0:
            raise ValueError(f"iterations must be >= 0, got {self.iterations}")
        if not 0 <= self.temperature < float("inf"):
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.execution not in ("open_loop", "replan"):
            raise ValueError(f"unknown execution '{self.execution}'; valid: open_loop, replan")
        if self.resample not in ("random", "max_energy"):
            raise ValueError(f"unknown resample '{self.resample}'; valid: random, max_energy")
        self.device = next(model.parameters()).device

    def reset(self, n_envs: int) -> None:
        self.n_envs = n_envs
        self.done = np.zeros(n_envs, bool)
        self.pending = [
            [] for _ in range(n_envs)
        ]  # env i's planned actions not yet acted, next first
        # actions acted in env i (the timestep embedding's t)
        self.steps = np.zeros(n_envs, np.int64)
        # fixed: evaluations repeat exactly
        self.generator = torch.Generator(device=self.device).manual_seed(0)
        self.trace = {
            "iterations": self.iterations,
            "horizon": self.horizon,
            "temperature": self.temperature,
            "execution": self.execution,
            "energy_per_iteration": [],
            "planned": [],
            "latency_ms": [],
        }

    def plan_steps(self, plan: torch.Tensor) -> list[list]:
        """Plans (n, horizon×A) -> for each, its actions in order, up to the first [END] (step 1 is never [END]):
        ints for BabyAI, (A,) float arrays for HalfCheetah."""
        A = self.model.tokens_per_step
        tokens = plan.view(len(plan), self.horizon, A).cpu().numpy()  # (n, horizon, A)
        if not self.tok.discrete:
            values = self.tok.discretizer.decode(tokens.reshape(-1, A)).reshape(tokens.shape)
            return [list(steps) for steps in values]
        out = []
        for steps in tokens[..., 0]:  # (horizon,) action ids or [END]
            ends = np.flatnonzero(steps == self.model.end_id)
            out.append([int(a) for a in steps[: ends[0] if len(ends) else len(steps)]])
        return out

    @torch.no_grad()
    def act(self, states: np.ndarray) -> np.ndarray:
        """states (N, S) from tok.encode_obs -> actions (N,) int or (N, A) float (zeros for finished envs)."""
        t0 = time.perf_counter()
        A = self.model.tokens_per_step
        actions = (
            np.zeros(self.n_envs, np.int64)
            if self.tok.discrete
            else np.zeros((self.n_envs, A), np.float32)
        )
        live = np.flatnonzero(~self.done)
        if len(live) == 0:
            return actions
        if self.execution == "replan":
            need = live
        else:
            need = np.array([i for i in live if not self.pending[i]], np.int64)
        if len(need):
            rows = torch.as_tensor(states[need], device=self.device)
            timestep = self.model.cfg.timestep
            if timestep != "none":  # the extra last column Model.split_timestep reads
                t = self.steps[need] + (self.horizon if timestep == "paper" else 0)
                rows = torch.cat([rows, torch.as_tensor(t, device=self.device)[:, None]], 1)
            plan, energies = self.model.plan(
                rows,
                self.horizon,
                self.iterations,
                self.generator,
                self.temperature,
                self.resample,
                self.energy_trace,
            )
            for i, steps in zip(need, self.plan_steps(plan)):
                self.pending[i] = steps
            if self.energy_trace:
                self.trace["energy_per_iteration"].append(energies.mean(0).tolist())
            self.trace["planned"].append(len(need))
        for i in live:
            actions[i] = self.pending[i].pop(0)
        self.steps[live] += 1
        self.trace["latency_ms"].append(1000 * (time.perf_counter() - t0))
        return actions

    def observe(self, rewards: np.ndarray, done: np.ndarray) -> None:
        self.done |= np.asarray(done, bool)
