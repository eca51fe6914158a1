"""The learning curve of any run, from its metrics.jsonl: training loss against step, and the evaluation score
against step and against training minutes where the run logged evaluations (`train --eval-every`)."""

from __future__ import annotations

import json
from pathlib import Path

from minirl.analysis.common import Run, figure, run_info, runs_line, save, suptitle


def curve(runs: list[Run], out: Path) -> list[Path]:
    """Learning curves from each run's metrics.jsonl: training loss against step; evaluation score (normalized
    score or success %) against step and against training minutes, drawn only when some run logged evaluations
    (the title says which runs logged none)."""
    numbers = {"runs": []}
    for run in runs:
        path = run.path / "metrics.jsonl"
        rows = (
            [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            if path.exists()
            else []
        )
        score_key = "success_rate" if run.tok.discrete else "normalized_score"
        scale = 100.0 if score_key == "success_rate" else 1.0
        evals = [r for r in rows if r.get(score_key) is not None]
        numbers["runs"].append(
            dict(
                run_info(run),
                score=score_key,
                step=[r["step"] for r in rows],
                loss=[r["loss"] for r in rows],
                eval_step=[r["step"] for r in evals],
                eval_minutes=[r["train_seconds"] / 60 for r in evals],
                eval_score=[scale * r[score_key] for r in evals],
            )
        )
    metric = (
        "success rate (%)" if runs[0].tok.discrete else "normalized score (0 random, 100 expert)"
    )
    panels = [("step", "loss", "gradient step", "training loss (log)", "loss")]
    unevaluated = [run for run, r in zip(runs, numbers["runs"]) if not r["eval_step"]]
    if len(unevaluated) < len(runs):  # some run logged evaluations
        panels += [
            ("eval_step", "eval_score", "gradient step", metric, "evaluation score vs step"),
            (
                "eval_minutes",
                "eval_score",
                "training time (minutes, this CPU)",
                metric,
                "evaluation score vs time",
            ),
        ]
    fig, axes = figure(1, len(panels), width=4.2, height=3.6)
    for ax, (x, y, xlabel, ylabel, title) in zip(axes[0], panels):
        for run, r in zip(runs, numbers["runs"]):
            if r[x]:
                style = {} if x == "step" else {"marker": "o", "ms": 3}
                ax.plot(r[x], r[y], label=f"{run.algo.upper()} · {run.path.name}", **style)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        if ax.lines:
            ax.legend(fontsize=7)
    axes[0, 0].set_yscale("log")
    missing = (
        "\nno evaluations logged by "
        + ", ".join(run.path.name for run in unevaluated)
        + " (train with --eval-every N to get score panels)"
        if unevaluated
        else ""
    )
    suptitle(
        fig,
        "Learning curve (evaluations: the periodic `--eval-every` rollouts, env seeds from 10000)\n"
        + runs_line(runs)
        + missing,
    )
    return save(fig, numbers, out, "curve")
