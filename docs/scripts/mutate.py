"""Mutation check (issue 22): plant realistic one-line bugs in minirl, one at a time, and see which the tests catch.

Each mutation below names a file, an exact snippet of its current code, the buggy replacement, what the bug means,
and the test files that should catch it. The script

1. checks that every snippet occurs exactly once in its file (else it stops: the list has drifted from the code),
2. copies the repository's working tree (tracked and untracked, not ignored files) to a temporary folder, so the
   real checkout is never touched, and checks that the copy's `minirl` is the one Python imports there,
3. runs the mutations' test files once on the unmutated copy (they must pass, or the check means nothing),
4. for each mutation: writes the mutated file into the copy, runs
   `python -m pytest <its test files> -x -q -p no:cacheprovider` there (OMP_NUM_THREADS=1, a timeout), puts the
   file back, and records caught (the tests fail) or survived (they pass),
5. prints a table and a summary line; --json writes the same as JSON.

It is a benchmark, not a CI test: about 10 CPU-minutes on one core. Usage:

    python docs/scripts/mutate.py                    # all mutations
    python docs/scripts/mutate.py --only dt- tt-     # ids starting with these prefixes
    python docs/scripts/mutate.py --list             # the list only, no runs
    python docs/scripts/mutate.py --json mutations.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[2]

# the test files each kind of mutation runs: the pinned-value tests, small and fast (seconds each)
FORMULAS = ("tests/test_formulas.py", "tests/test_pinned_more.py")
OPTIM = ("tests/test_optim.py",)
PATHS = ("tests/test_paths.py", "tests/test_pinned_more.py")


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str  # relative to the repository root
    original: str  # exact code, must occur exactly once in the file
    replacement: str
    description: str
    tests: tuple[str, ...] = FORMULAS


M = Mutation
# fmt: off
MUTATIONS = [
    # ------------------------------------------------------------------ return-to-go, discounting, normalization
    M("rtg-no-discount", "minirl/tokenizer.py",
      "running = float(rewards[t]) + gamma * running",
      "running = float(rewards[t]) + running",
      "return-to-go ignores gamma"),
    M("rtg-skips-first-step", "minirl/tokenizer.py",
      "for t in range(len(rewards) - 1, -1, -1):",
      "for t in range(len(rewards) - 1, 0, -1):",
      "the backward loop stops before step 0 (R̂_0 = 0)"),
    M("rtg-excludes-r_t", "minirl/tokenizer.py",
      "rtg[t] = running",
      "rtg[t] = running - float(rewards[t])",
      "R̂_t counts rewards after t only (off by one)"),
    M("rtg-unscaled", "minirl/tokenizer.py",
      '"rtg": returns_to_go(rewards, self.gamma) / self.rtg_scale,',
      '"rtg": returns_to_go(rewards, self.gamma),',
      "episode R̂ not divided by rtg_scale"),
    M("states-shifted", "minirl/tokenizer.py",
      "rows: slice = slice(None, -1)",
      "rows: slice = slice(1, None)",
      "decision states are s_{t+1}: each action paired with the next state"),
    M("normalizer-sample-std", "minirl/tokenizer.py",
      "return cls(x.mean(0), x.std(0))",
      "return cls(x.mean(0), x.std(0, ddof=1))",
      "state std with ddof=1 instead of the population std"),
    M("normalizer-decode", "minirl/tokenizer.py",
      "return (z * self.std + self.mean).astype(np.float32)",
      "return ((z + self.mean) * self.std).astype(np.float32)",
      "denormalization in the wrong order"),
    M("windows-right-padded", "minirl/tokenizer.py",
      "out[k][b, K - n :] = v[s : s + n]",
      "out[k][b, :n] = v[s : s + n]",
      "short windows right-padded while the mask says left"),
    M("windows-drop-last-step", "minirl/tokenizer.py",
      "n = min(K, lengths[e] - s)",
      "n = min(K, lengths[e] - s - 1)",
      "a window never holds its episode's last step"),
    M("windows-uniform-episodes", "minirl/tokenizer.py",
      "p=lengths / lengths.sum()",
      "p=None",
      "episodes drawn uniformly, not in proportion to their length"),
    M("d4rl-expert-constant", "minirl/envs.py",
      "-280.178953, 12135.0",
      "-280.178953, 12284.0",
      "wrong HalfCheetah expert reference return"),
    M("d4rl-formula", "minirl/envs.py",
      "100.0 * (ret - spec.ref_min_score) / (spec.ref_max_score - spec.ref_min_score)",
      "100.0 * (ret - spec.ref_min_score) / spec.ref_max_score",
      "normalized score divides by the expert return, not expert - random"),
    M("maze2d-constant", "minirl/envs.py",
      "600, 13.13, 277.39",
      "600, 13.13, 227.39",
      "wrong maze2d-medium expert reference return"),
    # ------------------------------------------------------------------ discretizer
    M("bin-edge-left", "minirl/tokenizer.py",
      'side="right"',
      'side="left"',
      "a value on an edge goes to the bin below"),
    M("bin-wrong-edges", "minirl/tokenizer.py",
      "edges[d, 1:-1]",
      "edges[d, :-1]",
      "bins searched against the edges shifted by one"),
    M("uniform-edges-from-zero", "minirl/tokenizer.py",
      "edges = lo[:, None] + qs[None, :] * (hi - lo)[:, None]",
      "edges = lo[:, None] + qs[None, :] * hi[:, None]",
      "uniform edges span hi instead of hi - lo"),
    M("empty-bin-zero", "minirl/tokenizer.py",
      "centers[d, filled] = sums[filled] / counts[filled]",
      "centers[d] = sums / np.maximum(counts, 1)",
      "an empty bin decodes to 0, not its midpoint"),
    M("empty-bin-left-edge", "minirl/tokenizer.py",
      "centers = (edges[:, :-1] + edges[:, 1:]) / 2",
      "centers = edges[:, :-1].copy()",
      "an empty bin decodes to its left edge"),
    M("decode-to-edge", "minirl/tokenizer.py",
      "np.take_along_axis(self.centers.T, flat, axis=0)",
      "np.take_along_axis(self.edges.T, flat, axis=0)",
      "decode returns the bin's lower edge, not its mean"),
    # ------------------------------------------------------------------ masks
    M("mask-anti-causal", "minirl/transformer.py",
      "(k_pos <= q_pos) if causal",
      "(k_pos >= q_pos) if causal",
      "causal mask shows the future, hides the past"),
    M("mask-padding-on-queries", "minirl/transformer.py",
      "padding_mask[:, None, None, :]",
      "padding_mask[:, None, :, None]",
      "padding hides query rows instead of key columns"),
    M("mask-no-self", "minirl/transformer.py",
      "allowed = allowed | (k_pos == q_pos)[None, None]",
      "allowed = allowed",
      "a padded query sees nothing (NaN rows)"),
    M("mask-cache-positions", "minirl/transformer.py",
      "q_pos = torch.arange(P, P + T, device=x.device)[:, None]",
      "q_pos = torch.arange(T, device=x.device)[:, None]",
      "queries after a KV cache are placed at 0..T-1"),
    M("capture-mask-inverted", "minirl/transformer.py",
      'scores.masked_fill(~allowed, float("-inf"))',
      'scores.masked_fill(allowed, float("-inf"))',
      "attention capture path applies the mask inverted"),
    M("capture-scale", "minirl/transformer.py",
      "/ math.sqrt(q.shape[-1])",
      "/ q.shape[-1]",
      "attention capture path scales scores by 1/d, not 1/sqrt(d)"),
    # ------------------------------------------------------------------ DT
    M("dt-padding-layout", "minirl/dt.py",
      "mask.repeat_interleave(3, dim=1)",
      "mask.repeat(1, 3)",
      "DT's token padding mask laid out [m, m, m] instead of per step"),
    M("dt-read-at-action", "minirl/dt.py",
      "hidden.reshape(B, K, 3, -1)[:, :, 1]",
      "hidden.reshape(B, K, 3, -1)[:, :, 2]",
      "a_t read at a_t's own token (it sees a_t)"),
    M("dt-read-at-return", "minirl/dt.py",
      "hidden.reshape(B, K, 3, -1)[:, :, 1]",
      "hidden.reshape(B, K, 3, -1)[:, :, 0]",
      "a_t read at R̂_t's token (it does not see s_t)"),
    M("dt-token-layout", "minirl/dt.py",
      "            dim=2,\n        )  # (B, K, 3, D)",
      "            dim=1,\n        )  # (B, K, 3, D)",
      "tokens laid out by kind [R̂..., s..., a...], not per step"),
    M("dt-action-no-time", "minirl/dt.py",
      "self.embed_action(actions) + time,",
      "self.embed_action(actions),",
      "action tokens lose their timestep embedding"),
    M("dt-loss-counts-padding", "minirl/dt.py",
      "return ((preds - actions) ** 2)[mask].mean()",
      "return ((preds - actions) ** 2).mean()",
      "DT's MSE averages over padded steps too"),
    M("dt-ce-counts-padding", "minirl/dt.py",
      "F.cross_entropy(preds[mask], actions[mask])",
      "F.cross_entropy(preds.flatten(0, 1), actions.flatten())",
      "DT's cross-entropy counts padded steps"),
    M("dt-timestep-cap", "minirl/dt.py",
      "np.minimum(w[\"timesteps\"], cfg.max_timestep - 1)",
      "np.minimum(w[\"timesteps\"], cfg.max_timestep)",
      "timesteps capped one past the embedding table"),
    M("dt-agent-rewards-unscaled", "minirl/dt.py",
      "np.asarray(rewards, np.float32)[running] / self.tok.rtg_scale",
      "np.asarray(rewards, np.float32)[running]",
      "acting R̂ decremented by unscaled rewards"),
    M("dt-agent-finished-count", "minirl/dt.py",
      "running = ~self.done",
      "running = np.ones_like(self.done)",
      "finished envs keep decrementing R̂"),
    M("dt-agent-target-unscaled", "minirl/dt.py",
      "np.full(N, self.target_return / self.tok.rtg_scale, np.float32)",
      "np.full(N, self.target_return, np.float32)",
      "acting starts from the unscaled target return"),
    M("dt-agent-reads-oldest", "minirl/dt.py",
      "        )[:, -1]\n        chosen",
      "        )[:, 0]\n        chosen",
      "the agent acts on the prediction at the oldest state in view"),
    M("dt-agent-timestep", "minirl/dt.py",
      "t = min(self.steps, self.cfg.max_timestep - 1)",
      "t = min(self.steps + 1, self.cfg.max_timestep - 1)",
      "acting timesteps start at 1"),
    # ------------------------------------------------------------------ TT
    M("tt-V-includes-r_t", "minirl/tt.py",
      "V = np.append(returns_to_go(r, cfg.discount)[1:], 0.0)",
      "V = returns_to_go(r, cfg.discount)",
      "TT's value target counts r_t (off by one)"),
    M("tt-V-undiscounted", "minirl/tt.py",
      "returns_to_go(r, cfg.discount)[1:]",
      "returns_to_go(r)[1:]",
      "TT's value target not discounted"),
    M("tt-penalty-on-truncation", "minirl/tt.py",
      'r[np.asarray(episode["terminations"], bool)] = cfg.termination_penalty',
      'r[np.asarray(episode["terminations"], bool) | np.asarray(episode["truncations"], bool)]'
      " = cfg.termination_penalty",
      "a time-limit truncation gets the termination penalty"),
    M("tt-beam-undiscounted", "minirl/tt.py",
      "candidates = (rewards * gammas).sum(-1).view(n_envs, -1)",
      "candidates = rewards.sum(-1).view(n_envs, -1)",
      "beam score sums rewards and V undiscounted"),
    M("tt-beam-V-reward-bins", "minirl/tt.py",
      "rewards[:, t + k] = probs @ model.rv_centers[k]",
      "rewards[:, t + k] = probs @ model.rv_centers[0]",
      "E[V] computed with the reward column's bin values"),
    M("tt-beam-keeps-worst", "minirl/tt.py",
      "candidates.topk(beam_width, dim=1)",
      "candidates.topk(beam_width, dim=1, largest=False)",
      "beam search keeps the lowest scores"),
    M("tt-beam-wrong-rows", "minirl/tt.py",
      "* candidates.shape[1]).flatten()",
      "* beam_width).flatten()",
      "kept beams indexed with the wrong per-env stride"),
    M("tt-loss-counts-padding", "minirl/tt.py",
      "weight = self.weights[dims] * mask[:, 1:]",
      "weight = self.weights[dims]",
      "TT's loss counts padded targets"),
    M("tt-loss-dims-off-by-one", "minirl/tt.py",
      "dims = torch.arange(1, tokens.shape[1], device=tokens.device) % self.transition_dim",
      "dims = torch.arange(tokens.shape[1] - 1, device=tokens.device) % self.transition_dim",
      "each output scored with the head of its own token, not the next"),
    M("tt-babyai-state-weight", "minirl/tt.py",
      "[0.0 if tok.discrete else 1.0] * self.obs_dim",
      "[1.0] * self.obs_dim",
      "BabyAI's placeholder state token is trained on"),
    M("tt-value-tokens-visible", "minirl/tt.py",
      "!= self.transition_dim - 1)[None]",
      "!= self.transition_dim - 2)[None]",
      "reward tokens hidden instead of value tokens"),
    M("tt-agent-action-columns", "minirl/tt.py",
      "self.disc.centers[np.arange(d, d + m), action_ids]",
      "self.disc.centers[np.arange(m), action_ids]",
      "TT agent decodes actions with the state columns' bins",
      PATHS),
    M("tt-agent-reward-column", "minirl/tt.py",
      "self.disc.edges.shape[0] - 2)",
      "self.disc.edges.shape[0] - 1)",
      "TT agent encodes observed rewards with the V column",
      PATHS),
    M("tt-agent-state-columns", "minirl/tt.py",
      "else self.encode(states, 0)",
      "else self.encode(states, 1)",
      "TT agent encodes states with shifted columns",
      PATHS),
    M("tt-agent-context-length", "minirl/tt.py",
      "self.keep = min(self.options.max_context_transitions, model.cfg.seq_len) - 1",
      "self.keep = min(self.options.max_context_transitions, model.cfg.seq_len)",
      "TT agent keeps one past transition too many",
      PATHS),
    # ------------------------------------------------------------------ LEAP
    M("leap-one-counts-padding", "minirl/leap.py",
      "return token_energy[real].mean()",
      "return token_energy.mean()",
      "LEAP's one-position loss counts padded tokens"),
    M("leap-scores-visible", "minirl/leap.py",
      "return F.cross_entropy(logits[masked], plan[masked])",
      "return F.cross_entropy(logits[real], plan[real])",
      "LEAP's masked loss also scores the visible tokens"),
    M("leap-hides-padding", "minirl/leap.py",
      "order = torch.rand(plan.shape, device=plan.device).masked_fill(~real, 2.0)",
      "order = torch.rand(plan.shape, device=plan.device)",
      "padding may be chosen as a hidden token"),
    M("leap-k-zero", "minirl/leap.py",
      "* n_real).long() + 1",
      "* n_real).long()",
      "k drawn from 0..n-1: some plans hide nothing"),
    M("leap-energy-mean", "minirl/leap.py",
      "return -log_p.gather(-1, plan[..., None]).squeeze(-1).sum(1)",
      "return -log_p.gather(-1, plan[..., None]).squeeze(-1).mean(1)",
      "energy averaged over tokens instead of summed"),
    M("leap-conditionals-row", "minirl/leap.py",
      "return logits[:, i, i].log_softmax(-1)",
      "return logits[:, 0, i].log_softmax(-1)",
      "p(a_i | rest) read from the copy that masks token 0"),
    M("leap-conditionals-all-masked", "minirl/leap.py",
      "one_masked = torch.eye(P, dtype=torch.bool, device=plan.device)",
      "one_masked = torch.ones(P, P, dtype=torch.bool, device=plan.device)",
      "every copy masks every token: p(a_i | s) instead of p(a_i | s, rest)"),
    M("leap-padding-shifted", "minirl/leap.py",
      "F.pad(real, (1, 0), value=True)",
      "F.pad(real, (0, 1), value=True)",
      "LEAP's padding mask shifted by the state token"),
    M("leap-end-rule-wrong-steps", "minirl/leap.py",
      "log_p[:, : self.tokens_per_step, self.end_id]",
      "log_p[:, self.tokens_per_step :, self.end_id]",
      "[END] ruled out everywhere but the executed step"),
    M("leap-refine-ignores-end-rule", "minirl/leap.py",
      "self.choose(self.acting_first(log_p)[rows, i], generator, temperature)",
      "self.choose(log_p[rows, i], generator, temperature)",
      "refinement may write [END] into the executed step"),
    M("leap-remask-lowest", "minirl/leap.py",
      "i = token_energy.argmax(1)",
      "i = token_energy.argmin(1)",
      "max_energy re-masks the lowest-energy token"),
    M("leap-end-as-padding", "minirl/leap.py",
      "real = inside | ended",
      "real = inside",
      "[END] tokens after a success counted as padding"),
    M("leap-truncation-ends", "minirl/leap.py",
      'bool(ep["terminations"][-1])',
      'bool(ep["terminations"][-1] or ep["truncations"][-1])',
      "a truncated episode's plans get [END]"),
    M("leap-steps-left", "minirl/leap.py",
      'np.arange(len(ep["actions"]), 0, -1)',
      'np.arange(len(ep["actions"]) - 1, -1, -1)',
      "steps left off by one (the last action is lost)"),
    # ------------------------------------------------------------------ IQL
    M("iql-target-V-of-s", "minirl/baselines/iql.py",
      "self.value(s_next).squeeze(-1)",
      "self.value(s).squeeze(-1)",
      "IQL's Q target bootstraps V(s), not V(s')"),
    M("iql-target-ignores-done", "minirl/baselines/iql.py",
      "y = r + cfg.gamma * (1 - done) *",
      "y = r + cfg.gamma *",
      "IQL bootstraps through terminal states"),
    M("iql-expectile-inverted-call", "minirl/baselines/iql.py",
      "expectile_loss(advantage, cfg.expectile)",
      "expectile_loss(-advantage, cfg.expectile)",
      "expectile inverted at its call site"),
    M("iql-expectile-helper", "minirl/baselines/iql.py",
      "(diff < 0).to(diff.dtype)",
      "(diff > 0).to(diff.dtype)",
      "expectile weight on the wrong side"),
    M("iql-max-of-targets", "minirl/baselines/iql.py",
      "torch.min(self.q1_target(s, a), self.q2_target(s, a))",
      "torch.max(self.q1_target(s, a), self.q2_target(s, a))",
      "max of the twin target critics"),
    M("iql-online-q-for-V", "minirl/baselines/iql.py",
      "torch.min(self.q1_target(s, a), self.q2_target(s, a))",
      "torch.min(self.q1(s, a), self.q2(s, a))",
      "V regressed onto the online critics, not the targets"),
    M("iql-weights-unclipped", "minirl/baselines/iql.py",
      ".clamp(max=cfg.exp_adv_max)",
      "",
      "advantage weights not clipped"),
    M("iql-advantage-at-next", "minirl/baselines/iql.py",
      "advantage = q_target - self.value(s).squeeze(-1)",
      "advantage = q_target - self.value(s_next).squeeze(-1)",
      "advantage uses V(s')"),
    M("iql-polyak-reversed", "minirl/baselines/iql.py",
      "p_target.lerp_(p, self.cfg.target_update_rate)",
      "p_target.lerp_(p, 1 - self.cfg.target_update_rate)",
      "targets move by 1 - rate"),
    # ------------------------------------------------------------------ CQL
    M("cql-penalty-no-data-term", "minirl/baselines/cql.py",
      "return (torch.logsumexp(q_sampled, dim=1) - q_data).mean()",
      "return torch.logsumexp(q_sampled, dim=1).mean()",
      "CQL penalty without - Q(s, a_data)"),
    M("cql-penalty-hard-max", "minirl/baselines/cql.py",
      "torch.logsumexp(q_sampled, dim=1)",
      "q_sampled.max(dim=1).values",
      "CQL penalty with a hard max, not log-sum-exp"),
    M("cql-plain-dqn", "minirl/baselines/cql.py",
      "a_next = self.q(s_next).argmax(1, keepdim=True)",
      "a_next = self.q_target(s_next).argmax(1, keepdim=True)",
      "discrete target picks a' with the target net (no double DQN)"),
    M("cql-uniform-density", "minirl/baselines/cql.py",
      "A * math.log(0.5)",
      "math.log(0.5)",
      "uniform proposal's log-density for one dimension only"),
    M("cql-target-ignores-done", "minirl/baselines/cql.py",
      "y = r + cfg.gamma * (1 - done) * q_next",
      "y = r + cfg.gamma * q_next",
      "continuous CQL bootstraps through terminal states"),
    M("cql-alpha-not-applied", "minirl/baselines/cql.py",
      "critic_loss = bellman + cfg.cql_alpha * penalty",
      "critic_loss = bellman + penalty",
      "continuous CQL ignores alpha_cql"),
    M("cql-sampled-states-mixed", "minirl/baselines/cql.py",
      "s_sampled = s.repeat_interleave(3 * n, 0)",
      "s_sampled = s.repeat(3 * n, 1)",
      "sampled actions scored at other batch rows' states"),
    # ------------------------------------------------------------------ BC pairing and transitions
    M("bc-next-state-shift", "minirl/baselines/bc.py",
      "return tok.states(episode, slice(1, None))",
      "return tok.states(episode, slice(None, -1))",
      "next state = the current state"),
    M("bc-done-is-truncation", "minirl/baselines/bc.py",
      'np.asarray(ep["terminations"], np.float32)',
      'np.asarray(ep["terminations"] | ep["truncations"], np.float32)',
      "a time-limit truncation treated as termination"),
    M("bc-unpaired-batch", "minirl/baselines/bc.py",
      "torch.from_numpy(values[idx])",
      "torch.from_numpy(values[rng.permutation(idx)])",
      "each field of a batch drawn at other rows: states and actions unpaired"),
    M("bc-loss-before-tanh", "minirl/baselines/bc.py",
      'return F.mse_loss(pred, batch["actions"])',
      'return F.mse_loss(self.policy(self.encoder(batch["states"])), batch["actions"])',
      "BC's MSE on the pre-tanh output"),
    # ------------------------------------------------------------------ SAC
    M("sac-entropy-sign", "minirl/baselines/sac.py",
      "(q_next - alpha * next_logp)",
      "(q_next + alpha * next_logp)",
      "soft value adds alpha log pi"),
    M("sac-online-critics", "minirl/baselines/sac.py",
      "q_next = torch.min(targets[0](next_obs, next_a), targets[1](next_obs, next_a))",
      "q_next = torch.min(critics[0](next_obs, next_a), critics[1](next_obs, next_a))",
      "Bellman target from the online critics"),
    M("sac-max-of-targets", "minirl/baselines/sac.py",
      "torch.min(targets[0]",
      "torch.max(targets[0]",
      "max of the twin target critics"),
    M("sac-target-ignores-done", "minirl/baselines/sac.py",
      "rewards + gamma * (1 - dones) *",
      "rewards + gamma *",
      "SAC bootstraps through terminal states"),
    M("sac-done-is-truncation", "minirl/baselines/sac.py",
      "dones = as_t(self.terminations).float()",
      "dones = as_t(self.terminations | self.truncations).float()",
      "replay buffer treats truncation as termination"),
    M("sac-gaussian-log-prob", "minirl/baselines/sac.py",
      "-0.5 * eps.pow(2)",
      "-eps.pow(2)",
      "Gaussian log-density without the 1/2"),
    M("sac-polyak-reversed", "minirl/baselines/sac.py",
      "list(self.critic.parameters()), self.cfg.tau",
      "list(self.critic.parameters()), 1 - self.cfg.tau",
      "targets move by 1 - tau"),
    # ------------------------------------------------------------------ optimizer and schedule
    M("optim-decay-every-weight", "minirl/train.py",
      'decay if isinstance(module, torch.nn.Linear) and name == "weight" else no_decay',
      'decay if name == "weight" else no_decay',
      "weight decay on LayerNorm gains and embeddings", OPTIM),
    M("optim-frozen-given", "minirl/train.py",
      "            if not p.requires_grad:\n                continue\n",
      "",
      "frozen target networks given to the optimizer", OPTIM),
    M("optim-adam-not-adamw", "minirl/train.py",
      "return torch.optim.AdamW(groups, lr=lr)",
      "return torch.optim.Adam(groups, lr=lr)",
      "Adam's coupled L2 instead of AdamW's decoupled decay", OPTIM),
    M("optim-clip-by-value", "minirl/train.py",
      "torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)",
      "torch.nn.utils.clip_grad_value_(model.parameters(), cfg.grad_clip)",
      "gradients clipped by value, not by norm", OPTIM),
    M("optim-no-clip", "minirl/train.py",
      "torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)",
      "pass  # clipping removed",
      "no gradient clipping", OPTIM),
    M("optim-nonfinite-steps", "minirl/train.py",
      "    if not torch.isfinite(loss):\n        return loss\n",
      "",
      "a NaN loss still updates the weights", OPTIM),
    M("lr-warmup-from-zero", "minirl/train.py",
      "return (step + 1) / warmup",
      "return step / warmup",
      "warmup starts at lr 0", OPTIM),
    M("lr-warmup-off-by-one", "minirl/train.py",
      "if warmup > 0 and step < warmup:",
      "if warmup > 0 and step <= warmup:",
      "warmup runs one step long", OPTIM),
    M("lr-cosine-ignores-warmup", "minirl/train.py",
      "progress = min(1.0, (step - warmup) / max(1, total - warmup))",
      "progress = min(1.0, step / max(1, total))",
      "cosine progress counted from step 0, not from the end of warmup", OPTIM),
    M("lr-cosine-to-zero", "minirl/train.py",
      "return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))",
      "return 0.5 * (1 + math.cos(math.pi * progress))",
      "cosine decays to 0, not to 10%", OPTIM),
    M("lr-step-ahead", "minirl/train.py",
      "step, cfg.warmup_steps, cfg.steps, cfg.lr_schedule",
      "step + 1, cfg.warmup_steps, cfg.steps, cfg.lr_schedule",
      "each update uses the next step's lr", OPTIM),
    # ------------------------------------------------------------------ collectors: the last step, truncation
    M("collect-end-early", "minirl/data.py",
      "ends[i] = t + 1",
      "ends[i] = t",
      "an env-ended HalfCheetah episode loses its last step", PATHS),
    M("collect-skip-last-step", "minirl/data.py",
      "stepping = np.flatnonzero(t < ends)",
      "stepping = np.flatnonzero(t < ends - 1)",
      "the collector never steps an episode's last action", PATHS),
    M("collect-remainder-not-truncated", "minirl/data.py",
      "truncations[T - 1, i] |= not terminations[T - 1, i]",
      "truncations[T - 1, i] |= False",
      "an episode cut by the step budget is not marked truncated", PATHS),
    M("collect-final-obs-repeated", "minirl/data.py",
      "observations=observations[: T + 1, i].copy(),",
      "observations=np.concatenate([observations[:T, i], observations[T - 1 : T, i]]),",
      "the final observation is not recorded (the one before it is repeated)", PATHS),
    M("replay-ends-early", "minirl/data.py",
      "ends = list(np.flatnonzero(done[env_rows]) + 1)",
      "ends = list(np.flatnonzero(done[env_rows]))",
      "replay episodes end one row early (the last step goes to the next)", PATHS),
    M("replay-keeps-autoreset", "minirl/data.py",
      "idx = idx[1:]  # the autoreset row described above",
      "idx = idx  # the autoreset row described above",
      "the vector env's autoreset row kept as a transition", PATHS),
    M("replay-trailing-not-truncated", "minirl/data.py",
      "truncations[-1] |= not terminations[-1]",
      "truncations[-1] |= False",
      "a trailing unfinished replay episode not marked truncated", PATHS),
    M("babyai-truncation-as-termination", "minirl/data.py",
      "terminations.append(terminated)",
      "terminations.append(terminated or truncated)",
      "BabyAI time limit recorded as termination", PATHS),
]
# fmt: on


# ---------------------------------------------------------------------------------------------- checks


def validate(root: Path, mutations: list[Mutation]) -> None:
    """Every snippet occurs exactly once in its file, and every test file exists; otherwise stop, listing them."""
    problems = []
    ids = [m.id for m in mutations]
    problems += [f"duplicate id {i}" for i in sorted({i for i in ids if ids.count(i) > 1})]
    for m in mutations:
        path = root / m.file
        if not path.exists():
            problems.append(f"{m.id}: {m.file} does not exist")
            continue
        n = path.read_text().count(m.original)
        if n != 1:
            problems.append(f"{m.id}: snippet occurs {n} times in {m.file}: {m.original!r}")
        if m.original == m.replacement:
            problems.append(f"{m.id}: the replacement is the original")
        problems += [f"{m.id}: no test file {t}" for t in m.tests if not (root / t).exists()]
    if problems:
        sys.exit("mutation list out of date:\n  " + "\n  ".join(problems))


def copy_tree(root: Path, dest: Path) -> None:
    """The working tree's tracked and untracked-but-not-ignored files (no caches, no datasets) -> dest."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=root,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = root / name
        if src.is_file():  # a tracked file deleted in the working tree is skipped
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def environment(copy: Path) -> dict:
    """The copy first on sys.path (the venv's editable install points at the real checkout); one thread; no .pyc
    files, so a mutated module is always recompiled from its source."""
    return dict(
        os.environ,
        PYTHONPATH=str(copy),
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONDONTWRITEBYTECODE="1",
        MPLBACKEND="Agg",
    )


def check_imports_copy(copy: Path, env: dict) -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import minirl, cli; print(minirl.__file__); print(cli.__file__)"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
    )
    paths = out.stdout.split()
    if out.returncode or len(paths) != 2 or not all(p.startswith(str(copy)) for p in paths):
        sys.exit(
            f"the copy's minirl is not the one imported: {out.stdout.strip()} {out.stderr.strip()}"
        )


def run_tests(
    copy: Path, env: dict, tests: tuple[str, ...], timeout: float
) -> tuple[str, float, str]:
    """(outcome, seconds, last output line): passed, failed, error (collection/usage) or timeout."""
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        *dict.fromkeys(tests),
        "-x",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    t0 = time.time()
    try:
        out = subprocess.run(
            cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.time() - t0, ""
    lines = (out.stdout + out.stderr).strip().splitlines()
    outcome = {0: "passed", 1: "failed"}.get(out.returncode, "error")
    return outcome, time.time() - t0, lines[-1] if lines else ""


# ---------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", nargs="*", help="run the mutations whose id starts with one of these"
    )
    parser.add_argument("--list", action="store_true", help="print the mutations and exit")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per test run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy")
    args = parser.parse_args()
    console = Console()

    validate(ROOT, MUTATIONS)
    chosen = [m for m in MUTATIONS if not args.only or m.id.startswith(tuple(args.only))]
    if not chosen:
        sys.exit(f"no mutation id starts with {args.only}")
    if args.list:
        table = Table(title=f"{len(chosen)} mutations")
        for col in ("id", "file", "bug", "tests"):
            table.add_column(col)
        for m in chosen:
            table.add_row(
                m.id, m.file, m.description, " ".join(t.removeprefix("tests/") for t in m.tests)
            )
        console.print(table)
        return

    copy = Path(tempfile.mkdtemp(prefix="minirl-mutate-"))
    started = time.time()
    results = []
    try:
        copy_tree(ROOT, copy)
        env = environment(copy)
        check_imports_copy(copy, env)
        all_tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        outcome, seconds, last = run_tests(copy, env, all_tests, 4 * args.timeout)
        if outcome != "passed":
            sys.exit(f"the tests fail without any mutation ({outcome}: {last}); fix that first")
        console.print(
            f"copy {copy}: unmutated tests pass ({seconds:.0f} s); {len(chosen)} mutations"
        )
        for k, m in enumerate(chosen, 1):
            path = copy / m.file
            source = path.read_text()
            path.write_text(source.replace(m.original, m.replacement, 1))
            try:
                outcome, seconds, last = run_tests(copy, env, m.tests, args.timeout)
            finally:
                path.write_text(source)
            caught = outcome != "passed"
            results.append(
                dict(
                    asdict(m),
                    tests=list(m.tests),
                    outcome=outcome,
                    caught=caught,
                    seconds=seconds,
                    last=last,
                )
            )
            mark = "[green]caught[/]" if caught else "[red]SURVIVED[/]"
            console.print(f"{k:3d}/{len(chosen)} {mark} {m.id} ({outcome}, {seconds:.0f} s)")
    finally:
        if args.keep:
            console.print(f"kept {copy}")
        else:
            shutil.rmtree(copy, ignore_errors=True)

    table = Table(title="mutation check (issue 22)")
    for col in ("#", "mutation", "file", "bug", "caught?"):
        table.add_column(col)
    for k, r in enumerate(results, 1):
        verdict = {
            "failed": "[green]yes[/]",
            "error": "[green]yes (error)[/]",
            "timeout": "[green]yes (timeout)[/]",
        }
        table.add_row(
            str(k),
            r["id"],
            r["file"].removeprefix("minirl/"),
            r["description"],
            verdict.get(r["outcome"], "[red]no[/]"),
        )
    console.print(table)
    n_caught = sum(r["caught"] for r in results)
    survivors = [r["id"] for r in results if not r["caught"]]
    minutes = (time.time() - started) / 60
    summary = (
        f"caught {n_caught}/{len(results)} ({100 * n_caught / len(results):.1f}%) in {minutes:.1f} min"
        + (f"; survived: {', '.join(survivors)}" if survivors else "")
    )
    console.print(summary)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"caught": n_caught, "total": len(results), "minutes": minutes, "results": results},
                indent=1,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
