"""Where each method succeeds on PointMaze: its evaluation episodes split by whether the dataset already shows the
way from their start cell to the goal (issue 15's stitching test, made per episode). Usage:

    python docs/scripts/pointmaze_by_start.py runs/pointmaze [threshold]

For every run with an eval.json (docs/scripts/pointmaze_table.sh makes them), episode i started where a fresh
evaluation env resets with seed (eval seed + i), as minirl/evaluate.py resets it; that start cell's share of dataset
episodes that pass through it and later reach the goal region (pointmaze.stitching_share's per-cell value) decides
its group: "shown" (share >= threshold, default 0.05) or "stitch" (share < threshold: nearly no episode of the data
goes from there to the goal, so reaching it means joining pieces of different episodes). Prints a markdown table:
per method and maze, the mean normalized score and the success share (return > 0) in each group, over all seeds'
episodes, with the number of episodes.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from minirl import data, pointmaze
from minirl.envs import make_env, normalized_score


def start_cells(env: str, seeds: list[int]) -> list[tuple[int, int]]:
    grid = pointmaze.Grid(pointmaze.eval_maze_map(env))
    cells = []
    for s in seeds:
        e = make_env(env)
        obs, _ = e.reset(seed=s)
        cells.append(tuple(int(v) for v in grid.cell_of(np.asarray(obs)[:2])))
        e.close()
    return cells


def cell_shares(dataset: str) -> dict[tuple[int, int], float]:
    """Start cell -> its stitching share (per_cell is in eval_start_cells' order)."""
    report = pointmaze.dataset_stitching_share(dataset)
    cells = pointmaze.eval_start_cells(data.env_of(dataset))
    return dict(zip(cells, report["per_cell"].values()))


def main(root: Path, threshold: float = 0.05) -> None:
    groups = defaultdict(
        lambda: {"shown": [], "stitch": []}
    )  # (algo, dataset) -> group -> [(score, success)]
    shares, starts = {}, {}
    for run in sorted(root.iterdir()):
        path = run / "eval.json"
        if not path.exists():
            continue
        for result in json.loads(path.read_text())["runs"]:
            dataset, env = result["dataset"], result["env"]
            if dataset not in shares:
                shares[dataset] = cell_shares(dataset)
            seeds = [result["seed"] + i for i in range(len(result["returns"]))]
            key = (env, tuple(seeds))
            if key not in starts:
                starts[key] = start_cells(env, seeds)
            for cell, ret in zip(starts[key], result["returns"]):
                group = "shown" if shares[dataset][cell] >= threshold else "stitch"
                groups[result["algo"], dataset][group].append((normalized_score(env, ret), ret > 0))
    print(
        "| method | dataset | shown: score (success, episodes) | stitch: score (success, episodes) |"
    )
    print("|---|---|---|---|")
    for (algo, dataset), by in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        cells = []
        for group in ("shown", "stitch"):
            rows = by[group]
            if rows:
                score = np.mean([r[0] for r in rows])
                success = 100 * np.mean([r[1] for r in rows])
                cells.append(f"{score:.1f} ({success:.0f}%, {len(rows)})")
            else:
                cells.append("-")
        print(f"| {algo} | {dataset} | {cells[0]} | {cells[1]} |")


if __name__ == "__main__":
    main(Path(sys.argv[1]), *(float(a) for a in sys.argv[2:3]))
