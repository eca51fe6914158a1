"""Reads the runs of docs/scripts/halfcheetah_ladder.sh and prints the locomotion table (markdown) with each cell's
budget, as docs/results.md shows it. Usage: python docs/scripts/ladder_table.py runs/ladder

A cell is the mean ± std over seeds of each run's normalized score (10 episodes per run); with one seed the ± is
the std over that run's 10 episodes (said in the header). DT's cell uses target return 6000 (the paper's lower
HalfCheetah target); its 12000 score is listed after it.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

PAPERS = {  # CORL (last checkpoint) / TT paper, halfcheetah medium / medium-replay / medium-expert
    "bc": (42.4, 35.7, 56.0),
    "cql": (47.0, 45.0, 95.6),
    "iql": (48.3, 44.5, 94.7),
    "dt": (42.2, 38.9, 91.6),
    "tt": (46.9, 41.9, 95.0),
}
LEVELS = ["medium", "medium-replay", "medium-expert"]


def main(root: Path):
    cells = defaultdict(list)  # (algo, level) -> [(score, episode std, steps, minutes, dt_12000)]
    for run in sorted(root.iterdir()):
        if not (run / "eval.json").exists():
            continue
        algo, rest = run.name.split("-", 1)
        level = rest.rsplit("-s", 1)[0]
        results = json.loads((run / "eval.json").read_text())["runs"]
        by_target = {r["options"].get("target_return"): r for r in results}
        main_result = by_target.get(6000.0, results[0])
        metrics = [
            json.loads(line)
            for line in (run / "metrics.jsonl").read_text().splitlines()
            if line.strip()
        ]
        last = metrics[-1]
        other = by_target.get(12000.0)
        cells[algo, level].append(
            (
                main_result["normalized_score"],
                main_result["normalized_std"],
                last["step"],
                last["train_seconds"] / 60,
                other["normalized_score"] if other else None,
            )
        )
    print("| method | " + " | ".join(LEVELS) + " | papers (M / MR / ME) |")
    print("|---|" + "---|" * len(LEVELS) + "---|")
    for algo in ["bc", "cql", "iql", "dt", "tt", "leap"]:
        row = []
        for level in LEVELS:
            runs = cells.get((algo, level))
            if not runs:
                row.append("not run")
                continue
            scores = np.array([r[0] for r in runs])
            spread = scores.std() if len(runs) > 1 else runs[0][1]
            text = (
                f"{scores.mean():.1f} ± {spread:.1f} ({len(runs)} seed{'s' if len(runs) > 1 else ''}; "
                f"{runs[0][2]} steps, {runs[0][3]:.1f} min"
            )
            if runs[0][4] is not None:
                text += f"; R̂=12000: {np.mean([r[4] for r in runs]):.1f}"
            row.append(text + ")")
        paper = " / ".join(str(x) for x in PAPERS[algo]) if algo in PAPERS else "–"
        print(f"| {algo.upper()} | " + " | ".join(row) + f" | {paper} |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/ladder"))
