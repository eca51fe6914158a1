"""DT's return-to-go tracking (the source's "return accumulation"): R̂ against the actual remaining return over
held-out episodes, and the return achieved against the target asked for."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from minirl.analysis.common import Run, figure, run_info, save, suptitle
from minirl.evaluate import rollout


def rtg(
    run: Run, out: Path, episodes: int = 5, fractions=(0.0, 0.25, 0.5, 0.75, 1.0, 1.25)
) -> list[Path]:
    """DT: R̂ against the actual remaining return over held-out episodes; achieved vs target return over a sweep.

    DT decrements R̂ by each reward it receives, so R̂_t = target - Σ_{t'<t} r_t' and the actual remaining return is
    G - Σ_{t'<t} r_t' (G the episode's return): both come from the trace and the episode's return."""
    returns = np.array([a["rewards"].sum() for a in run.arrays()])
    best = float(returns.max())
    targets = [float(f * best) for f in fractions]
    default = run.module.default_target(run.tok)  # rtg applies to DT only (APPLIES)

    def at(target: float) -> dict:
        """The run's episodes (fresh env seeds 10,000...) conditioned on target."""
        return rollout(
            run.module,
            run.model,
            run.tok,
            run.env,
            episodes=episodes,
            seed=10_000,
            progress=False,
            target_return=target,
        )

    sweep = []
    for target in targets:
        r = at(target)
        sweep.append(
            {
                "target": target,
                "returns": r["returns"],
                "mean": r["return_mean"],
                "std": r["return_std"],
            }
        )
    traced = at(default)
    tracks = []
    for rtg_list, G in zip(traced["trace"]["rtg"], traced["returns"]):
        rtg_t = np.array(rtg_list)
        tracks.append(
            {"rtg": rtg_t, "remaining": G - (traced["trace"]["target_return"] - rtg_t), "return": G}
        )
    fig, axes = figure(1, 2, width=5.0, height=3.8)
    ax = axes[0, 0]
    for i, track in enumerate(tracks):
        (line,) = ax.plot(track["rtg"], lw=1.5, label="R̂_t (conditioning)" if i == 0 else None)
        ax.plot(
            track["remaining"],
            lw=1,
            ls="--",
            color=line.get_color(),
            label="actual remaining return" if i == 0 else None,
        )
    ax.set_xlabel("episode timestep t")
    ax.set_ylabel("return (reward units)")
    ax.set_title(
        f"target {default:g}: R̂ (solid) vs actual remaining (dashed), {len(tracks)} episodes",
        fontsize=9,
    )
    ax.legend(fontsize=7)
    ax = axes[0, 1]
    means, stds = np.array([s["mean"] for s in sweep]), np.array([s["std"] for s in sweep])
    ax.errorbar(
        targets,
        means,
        yerr=stds,
        marker="o",
        capsize=3,
        label=f"achieved (mean ± std, {episodes} episodes)",
    )
    lo, hi = min(targets + [0.0]), max(targets)
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="achieved = target")
    ax.axhline(best, color="grey", lw=1, ls=":", label="best return in the dataset")
    ax.set_xlabel("target return R̂_1 (reward units)")
    ax.set_ylabel("achieved return (reward units)")
    ax.set_title("achieved vs target return", fontsize=9)
    ax.legend(fontsize=7)
    suptitle(fig, run.title("Return-to-go tracking (held-out env seeds from 10000)"))
    tracking_error = [float(np.abs(t["rtg"] - t["remaining"]).mean()) for t in tracks]
    numbers = dict(
        run_info(run),
        dataset_best_return=best,
        default_target=default,
        sweep=sweep,
        tracks=tracks,
        tracking_error_mean=float(np.mean(tracking_error)),
    )
    return save(fig, numbers, out, f"rtg-{run.path.name}")
