"""Compute per decision (the source's "compute cost comparison"): wall-clock milliseconds per real decision in a
real env, DT once, TT against beam width, LEAP against refinement iterations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from minirl.analysis.common import Run, figure, run_info, runs_line, save, suptitle
from minirl.envs import make_env
from minirl.evaluate import EnvLoop

COST_SWEEPS = {
    "tt": ("beam_width", (1, 2, 4, 8, 16, 32)),
    "leap": ("iterations", (0, 1, 2, 5, 10, 20, 40)),
}


class _DecisionTimer:
    """One env and one agent with fixed options; each call times one real decision (agent.act) and steps the env
    (evaluate.EnvLoop), starting a new episode (seed + 1) when one ends."""

    def __init__(self, run: Run, seed: int = 10_000, **options):
        self.seed, self.env = seed, make_env(run.env, obs=run.tok.obs)
        self.agent, self.encode = (
            run.module.Agent(run.model, run.tok, **options),
            run.tok.encode_obs,
        )
        self.loop = EnvLoop(self.agent, [self.env], self.seed, self.encode)

    def __call__(self) -> float:
        ms = 1000 * self.loop.step()
        if self.loop.done.all():
            self.seed += 1
            self.loop = EnvLoop(self.agent, [self.env], self.seed, self.encode)
        return ms


def cost(runs: list[Run], out: Path, decisions: int = 8, threads: int = 1) -> list[Path]:
    """Wall-clock ms per decision: DT (one setting), TT against beam width, LEAP against refinement iterations.

    Every setting gets its own env and agent, and the settings take turns, one decision each, `decisions` rounds
    after a warm-up round, so a slow spell of a shared machine hits them all alike. torch runs `threads` threads
    (restored afterwards). One env (batch of one), CPU."""
    settings = []  # (run index, option, value)
    for i, run in enumerate(runs):
        option, values = COST_SWEEPS.get(run.algo, (None, (None,)))
        settings += [(i, option, v) for v in values]
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        timers = [
            _DecisionTimer(runs[i], **({option: v} if option else {})) for i, option, v in settings
        ]
        times = [[] for _ in settings]
        for round_ in range(decisions + 1):
            for j, timer in enumerate(timers):
                ms = timer()
                if round_ > 0:  # round 0 warms up
                    times[j].append(ms)
    finally:
        torch.set_num_threads(old_threads)
    numbers = {
        "runs": [],
        "torch_threads": threads,
        "decisions_per_setting": decisions,
        "device": "cpu",
    }
    dt_lines = []
    for i, run in enumerate(runs):
        entry = dict(run_info(run))
        rows = []
        for (k, _, v), ms in zip(settings, times):
            if k == i:
                ms = np.array(ms)
                rows.append(
                    {
                        "value": v,
                        "median_ms": float(np.median(ms)),
                        "p25_ms": float(np.percentile(ms, 25)),
                        "p75_ms": float(np.percentile(ms, 75)),
                        "ms": ms,
                    }
                )
        if run.algo in COST_SWEEPS:
            option = COST_SWEEPS[run.algo][0]
            x = np.array([r["value"] for r in rows], float)
            y = np.array([r["median_ms"] for r in rows])
            slope, intercept = np.polyfit(x, y, 1)
            r2 = 1 - ((y - (slope * x + intercept)) ** 2).sum() / max(
                ((y - y.mean()) ** 2).sum(), 1e-12
            )
            entry.update(
                option=option,
                settings=[dict(r, **{option: r.pop("value")}) for r in rows],
                linear_fit={"ms_per_unit": slope, "ms_at_0": intercept, "r2": r2},
            )
        else:
            entry.update({k: v for k, v in rows[0].items() if k != "value"})
            dt_lines.append((run, entry["median_ms"]))
        numbers["runs"].append(entry)
    swept = [(run, e) for run, e in zip(runs, numbers["runs"]) if "option" in e]
    fig, axes = figure(1, max(1, len(swept)), width=6.0, height=4.2)
    for ax, (run, e) in zip(axes[0], swept or [(None, None)]):
        if e is not None:
            x = [r[e["option"]] for r in e["settings"]]
            y = np.array([r["median_ms"] for r in e["settings"]])
            err = np.array(
                [
                    [r["median_ms"] - r["p25_ms"] for r in e["settings"]],
                    [r["p75_ms"] - r["median_ms"] for r in e["settings"]],
                ]
            )
            ax.errorbar(x, y, yerr=err, marker="o", capsize=3, label=f"{run.label} (median, IQR)")
            fit = e["linear_fit"]
            xs = np.linspace(min(x), max(x), 50)
            ax.plot(
                xs,
                fit["ms_per_unit"] * xs + fit["ms_at_0"],
                "k:",
                lw=1,
                label=f"linear fit: {fit['ms_per_unit']:.2f} ms per unit + {fit['ms_at_0']:.1f} ms, "
                f"R² {fit['r2']:.3f}",
            )
            ax.set_xlabel(
                {"beam_width": "beam width K", "iterations": "refinement iterations"}[e["option"]]
            )
        else:
            ax.set_xlabel("(no TT or LEAP run given)")
        for dt_run, ms in dt_lines:
            ax.axhline(
                ms,
                color="#d62728",
                ls="--",
                lw=1.2,
                label=f"{dt_run.label}: {ms:.2f} ms (constant)",
            )
        ax.set_ylabel("wall-clock per decision (ms)")
        ax.legend(fontsize=7)
    suptitle(
        fig,
        f"Compute per decision, settings timed in turn in one process (CPU, {threads} torch thread(s), "
        f"{decisions} decisions per setting, one env)\n" + runs_line(runs),
    )
    return save(fig, numbers, out, "cost")
