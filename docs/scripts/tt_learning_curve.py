"""TT's learning curve on halfcheetah-medium: normalized score vs training minutes, from runs' metrics.jsonl.

    minirl train tt --dataset halfcheetah-medium --out runs/tt-hc-A --eval-every 2000 \
        --eval-set beam_width=8 --eval-set horizon=1    # cheaper planning than eval's default, for the curve
    python docs/scripts/tt_learning_curve.py RUN [RUN ...] --out docs/figures/tt_halfcheetah_curve.png

Each RUN is a `minirl train tt ... --eval-every N` folder; its rows with a `normalized_score` are the periodic
evaluations (`train_seconds` is wall-clock training time, evaluations excluded), made with the episodes and planning
settings its config.json records ("eval": --eval-episodes and --eval-set), which each curve's label names. The
data's own score (39.7) and BC's (41.3), both from docs/results.md, are drawn as reference lines.
"""

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DATA_SCORE, BC_SCORE = 39.7, 41.3  # docs/results.md, the D4RL-level halfcheetah-medium (issue 21)


def curve(run: Path) -> tuple[list[float], list[float]]:
    """(training minutes, normalized score) of a run's periodic evaluations."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line]
    rows = [r for r in rows if "normalized_score" in r]
    return [r["train_seconds"] / 60 for r in rows], [r["normalized_score"] for r in rows]


def eval_label(run: Path) -> str:
    """How a run's periodic evaluations planned, from its config.json: "5 episodes, beam 8, horizon 1"."""
    settings = json.loads((run / "config.json").read_text()).get("eval")
    if settings is None:  # a run from before --eval-set: its settings were not recorded
        return "settings not recorded"
    options = settings["options"]
    return f"{settings['episodes']} episodes, beam {options['beam_width']}, horizon {options['horizon']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=Path("docs/figures/tt_halfcheetah_curve.png"))
    args = parser.parse_args()
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for run in args.runs:
        minutes, scores = curve(run)
        ax.plot(minutes, scores, "o-", label=f"{run.name} ({eval_label(run)})")
    ax.axhline(DATA_SCORE, color="gray", ls="--", label=f"data ({DATA_SCORE})")
    ax.axhline(BC_SCORE, color="k", ls=":", label=f"BC ({BC_SCORE})")
    ax.set_xlabel("training minutes (wall clock, one shared core)")
    ax.set_ylabel("normalized score (periodic evaluation)")
    ax.set_title("TT on halfcheetah-medium")
    ax.legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=120)
    print(args.out)


if __name__ == "__main__":
    main()
