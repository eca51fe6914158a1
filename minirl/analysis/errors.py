"""Open-loop prediction error against horizon (the source's "error propagation"): each model predicts steps it
never observes, and its predictions are compared with the dataset's (each model's measure: ERROR_DEFINITION).

DT is fed its own predicted actions; TT imagines whole transitions with its own planner decoding greedily
(tt.plan with one beam, every token its likeliest); LEAP plans once from the first state (its own Model.plan).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from minirl import data
from minirl.analysis.common import Run, figure, run_info, runs_line, save, suptitle


def _action_error(run: Run, predicted, actual) -> np.ndarray:
    """Per-step action error: 1 if the discrete action differs (0 if equal); squared error averaged over the action
    dimensions for continuous actions. predicted / actual (T,) ints or (T, A) floats."""
    predicted, actual = np.asarray(predicted), np.asarray(actual)
    if run.tok.discrete:
        return (predicted != actual).astype(np.float64)
    return ((predicted - actual) ** 2).mean(-1)


@torch.no_grad()
def _dt_open_loop(run: Run, ep: dict, t0: int, horizon: int) -> dict:
    """DT fed its own predicted actions from step t0 on (states and R̂ from the dataset): action error at t0 + h,
    and, for reference, the error with the dataset's own past actions (teacher forcing)."""
    K, actions = run.cfg.context_len, ep["actions"].copy()
    own, forced = [], []
    for t in range(t0, min(t0 + horizon, len(ep["rewards"]))):
        sl = slice(max(0, t + 1 - K), t + 1)
        # row 0: own actions, row 1: the dataset's
        both = lambda x: torch.as_tensor(np.stack([x[sl], x[sl]]))
        acts = torch.as_tensor(np.stack([actions[sl], ep["actions"][sl]]))
        preds = run.model(
            both(ep["rtg"]),
            both(ep["states"]),
            acts,
            # (2, A)
            both(np.minimum(ep["timesteps"], run.cfg.max_timestep - 1)),
        )[:, -1]
        a_own, a_forced = preds.argmax(-1).numpy() if run.tok.discrete else preds.numpy()
        actions[t] = a_own  # the model's own action replaces the dataset's in every later context
        own.append(_action_error(run, [a_own], [ep["actions"][t]])[0])
        forced.append(_action_error(run, [a_forced], [ep["actions"][t]])[0])
    return {
        "action error, own actions fed back": own,
        "action error, dataset actions (teacher forcing)": forced,
    }


@torch.no_grad()
def _leap_open_loop(run: Run, ep: dict, t0: int, horizon: int) -> dict:
    """LEAP's refined plan from the dataset state s_t0 (no later observation): action error of plan step h against
    the dataset's a_{t0+h}; also the plan before refinement (the all-[MASK] fill)."""
    n = min(horizon, run.cfg.horizon, len(ep["rewards"]) - t0)
    state = torch.as_tensor(ep["states"][t0 : t0 + 1])
    g = torch.Generator().manual_seed(0)
    out = {}
    for name, iterations in (
        ("action error, refined plan", run.cfg.iterations),
        ("action error, initial fill", 0),
    ):
        plan, _ = run.model.plan(state, n, iterations, g)
        A = run.model.tokens_per_step
        tokens = plan[0].view(n, A).numpy()
        predicted = tokens[:, 0] if run.tok.discrete else run.tok.discretizer.decode(tokens)
        out[name] = _action_error(run, predicted, ep["actions"][t0 : t0 + n]).tolist()
    return out


@torch.no_grad()
def _tt_open_loop(run: Run, ep: dict, t0: int, horizon: int) -> dict:
    """TT imagines `horizon` transitions from the dataset's s_t0 alone, every token its own most likely one: its
    planner with one beam, one copy and the likeliest bin of every token (greedy; a real beam search would choose
    actions for reward, not predict the data). Errors against the dataset at step t0 + h: the action, the reward
    (squared error, reward units of the bins' values) and, HalfCheetah, the next state (squared error per
    normalized state dimension; BabyAI states are never predicted)."""
    model, td, d, m = run.model, run.model.transition_dim, run.model.obs_dim, run.model.act_dim
    n = min(horizon, len(ep["rewards"]) - t0)
    centers = run.tok.discretizer.centers  # (columns, N) the value of each bin
    states = torch.as_tensor(ep["states"][t0 : t0 + 1])[None] if model.discrete else None
    prefix = torch.as_tensor(ep["tokens"][t0 : t0 + 1, :d])  # (1, d): the real first state
    imagined, _ = run.module.plan(
        model,
        prefix,
        states,
        beam_width=1,
        horizon=n,
        n_expand=1,
        k_act=1,
        k_obs=1,
        max_context_transitions=run.module.EvalOptions().max_context_transitions,
        cached=False,
    )
    rows = torch.cat([prefix, imagined], 1).view(n, td).numpy()  # (n, td) [s, a, r, V] per step
    out = {}
    if model.discrete:
        predicted = rows[:, d]
        reward_col = 0  # the discretizer's columns are [r, V] for BabyAI
    else:
        # (n, m) values of the action bins
        predicted = centers[np.arange(d, d + m), rows[:, d : d + m]]
        reward_col = d + m
        state_pred = centers[np.arange(d), rows[1:, :d]]  # (n-1, d) imagined s_{t0+1..}
        out["state error (s_t0+h, normalized units²)"] = (
            ((state_pred - ep["states"][t0 + 1 : t0 + n]) ** 2).mean(-1).tolist()
        )
    out["action error"] = _action_error(run, predicted, ep["actions"][t0 : t0 + n]).tolist()
    reward = centers[reward_col, rows[:, d + m]]
    actual = ep["rewards"][t0 : t0 + n].astype(np.float64)
    # TT's reward column holds the penalty at a real termination
    if run.cfg.termination_penalty is not None:
        actual = np.where(ep["terminations"][t0 : t0 + n], run.cfg.termination_penalty, actual)
    out["reward error (reward units²)"] = ((reward - actual) ** 2).tolist()
    return out


OPEN_LOOP = {"dt": _dt_open_loop, "tt": _tt_open_loop, "leap": _leap_open_loop}


def error_horizon(run: Run) -> int:
    """Open-loop steps: LEAP's plans are as long as its trained horizon; DT and TT slide their view along, 16 steps."""
    return run.cfg.horizon if run.algo == "leap" else 16


def error(
    runs: list[Run], out: Path, max_episodes: int = 32, horizon: int | None = None
) -> list[Path]:
    """Open-loop multi-step prediction error against horizon h, mean and 95% confidence band (mean ± 1.96
    standard errors) over max_episodes dataset episodes drawn at random (seed 0), each started at its first step;
    fewer episodes reach the larger h (the count per h is in the JSON). Left: action error, the one measure all
    three models share; right (when a TT run is given): TT's errors on the rewards (and states) it imagines.
    horizon: open-loop steps (default error_horizon)."""
    numbers = {"runs": [], "definition": ERROR_DEFINITION}
    for run in runs:
        arrays = run.arrays()
        # the same episodes every run
        order = np.random.default_rng(0).permutation(len(arrays))[:max_episodes]
        steps = horizon or error_horizon(run)
        curves: dict[str, list[list[float]]] = {}
        for i in order:
            for name, errors in OPEN_LOOP[run.algo](run, arrays[i], 0, steps).items():
                curves.setdefault(name, []).append(list(errors))
        result = {}
        for name, lists in curves.items():
            h_max = max(len(e) for e in lists)
            if h_max == 0:
                continue
            values = [
                np.array([e[h] for e in lists if len(e) > h], np.float64) for h in range(h_max)
            ]
            mean = np.array([v.mean() for v in values])
            band = np.array(
                [1.96 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0 for v in values]
            )
            result[name] = {
                "horizon": np.arange(1, h_max + 1),
                "mean": mean,
                "ci95": band,
                "episodes": [len(v) for v in values],
            }
        # a held-out copy when `--data-dir` points elsewhere
        episodes_from = str(data.dataset_path(run.dataset))
        numbers["runs"].append(dict(run_info(run), episodes_from=episodes_from, curves=result))
    imagined = any(
        not name.startswith("action") for r in numbers["runs"] for name in r["curves"]
    )  # TT's reward and state curves
    unit = (
        "share of steps whose action differs"
        if runs[0].tok.discrete
        else "squared error per action dim"
    )
    panels = [(f"action error ({unit}; log)", "action vs the dataset's (all models)")]
    if imagined:
        panels.append(
            (
                "squared error (units in the legend; log)",
                "TT's imagined rewards and states vs the dataset's",
            )
        )
    fig, axes = figure(1, len(panels), width=6.0, height=4.4)
    floor = 1e-3  # values below are drawn here (log scale)
    for run, r in zip(runs, numbers["runs"]):
        for name, c in r["curves"].items():
            ax = axes[0, 0] if name.startswith("action") else axes[0, 1]
            style = "--" if "teacher" in name or "initial" in name else "-"
            h, mean, band = c["horizon"], c["mean"], c["ci95"]
            (line,) = ax.plot(
                h,
                np.maximum(mean, floor),
                style,
                marker="o",
                ms=3,
                label=f"{run.algo.upper()}: {name}",
            )
            ax.fill_between(
                h,
                np.maximum(mean - band, floor),
                np.maximum(mean + band, floor),
                alpha=0.15,
                color=line.get_color(),
            )
    for ax, (ylabel, title) in zip(axes[0], panels):
        ax.set_yscale("log")
        ax.set_xlabel("h: the h-th step predicted open loop from the start (timesteps)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    missing = "" if imagined else "\n(no TT run given, so no panel of imagined rewards and states)"
    suptitle(
        fig,
        "Open-loop prediction error vs horizon: mean and 95% band over dataset episodes (values below "
        "1e-3 drawn at 1e-3; definitions in error.json and docs/analysis.md)\n"
        + runs_line(runs)
        + missing,
    )
    return save(fig, numbers, out, "error")


ERROR_DEFINITION = {
    "dt": "Start at an episode's first dataset step; at each step t the context holds the dataset's R̂ and states "
    "but DT's own earlier predicted actions (teacher-forcing reference: the dataset's actions). Error of the "
    "predicted a_t vs the dataset's a_t.",
    "tt": "Start from the dataset's first state; TT decodes every later token greedily from its own predictions "
    "(states, actions, rewards, values), no new observation. Errors of the predicted action, next state "
    "(mean squared error in normalized / token units) and reward vs the dataset's.",
    "leap": "Plan once from the dataset state s_0 (iterations from the run's Config) and compare plan step h with the "
    "dataset's a_h; reference: the plan before refinement (all-[MASK] fill).",
    "action error": "discrete actions: 1 if the action differs from the dataset's, else 0 (mean = disagreement "
    "rate); continuous: squared error averaged over action dimensions.",
}
