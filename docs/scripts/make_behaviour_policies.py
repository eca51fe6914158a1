"""Pick the shipped HalfCheetah behaviour policies from ONE SAC run (D4RL's recipe), and write their cards.

    minirl baseline sac --env halfcheetah --steps 1000000 --seed 1 --out runs/sac-halfcheetah
    python docs/scripts/make_behaviour_policies.py runs/sac-halfcheetah [--max-step N]

(a stopped run continues with `minirl baseline sac --resume runs/sac-halfcheetah`; the script can run at any point).
expert = the snapshot with the best 10-episode return (stochastic actions, as the datasets are collected);
medium = the earlier snapshot whose 10-episode return is closest to D4RL's medium data (4770; --medium-target).
Writes minirl/policies/halfcheetah-{medium,expert}.{pt,json} (the card records the command, seed, step and commit),
the replay buffer up to the medium snapshot in insertion order (halfcheetah-medium-replay.npz, D4RL's medium-replay
recipe), and the SAC learning curve docs/figures/sac_halfcheetah.png. Regenerates tracked files: run it on purpose.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from minirl.baselines.sac import Actor, evaluate_policy

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "minirl" / "policies"
D4RL_MEDIUM_RETURN = 4770.0  # D4RL halfcheetah-medium-v2's mean data return (normalized 40.7)


def buffer_rows_at(buffer, step: int) -> int:
    """Rows the (single-env) replay buffer held after `step` env steps: every step adds a row, except the vector
    env's autoreset step after each episode end, which adds none. So rows r and steps s satisfy s = r + ends(r)."""
    # episode ends among the first r+1 rows
    ends = np.cumsum(buffer["terminations"] | buffer["truncations"])
    steps_after_row = np.arange(1, len(ends) + 1) + np.concatenate([[0], ends[:-1]])
    return int(np.searchsorted(steps_after_row, step, side="right"))


def load_actor(path: Path) -> Actor:
    actor = Actor(17, 6, 256, -1.0, 1.0)
    actor.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return actor.eval()


def evaluate(path: Path, episodes: int = 10) -> dict:
    actor = load_actor(path)
    # the action noise: the same card for the same snapshot, whatever was evaluated before
    torch.manual_seed(0)
    stochastic = evaluate_policy(actor, "HalfCheetah-v5", episodes, seed=0, deterministic=False)
    deterministic = evaluate_policy(actor, "HalfCheetah-v5", episodes, seed=0, deterministic=True)
    return {
        "eval_return_mean": float(np.mean(stochastic)),
        "eval_return_std": float(np.std(stochastic)),
        "eval_return_deterministic_mean": float(np.mean(deterministic)),
        "eval_return_deterministic_std": float(np.std(deterministic)),
        "eval_episodes": episodes,
    }


def commit_of(path: Path) -> str:
    result = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%H", "--", str(path)],
        capture_output=True,
        text=True,
    )
    return result.stdout.strip() or "unknown"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("--max-step", type=int, default=None)
    parser.add_argument(
        "--shortlist", type=int, default=4, help="snapshots per level evaluated with 10 episodes"
    )
    parser.add_argument(
        "--medium-step", type=int, default=None, help="use this snapshot as medium (skip the rule)"
    )
    parser.add_argument("--medium-target", type=float, default=D4RL_MEDIUM_RETURN)
    parser.add_argument(
        "--only", choices=["medium", "expert"], default=None, help="write only this level"
    )
    parser.add_argument(
        "--sac-commit",
        default=None,
        help="the commit the run was trained with (default: the last commit that changed sac.py)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines()]
    rows = [
        r
        for r in rows
        if (args.run / f"policy_{r['step']}.pt").exists()
        and (args.max_step is None or r["step"] <= args.max_step)
    ]
    config = json.loads((args.run / "config.json").read_text())

    # shortlists by the run's own 5-episode deterministic evaluations, then 10 stochastic episodes decide
    scored, levels = {}, {}
    if args.only != "medium":
        top = sorted(rows, key=lambda r: -r["eval_return_mean"])[: args.shortlist]
        scored = {r["step"]: evaluate(args.run / f"policy_{r['step']}.pt") for r in top}
        levels["expert"] = max(scored, key=lambda s: scored[s]["eval_return_mean"])
    if args.only != "expert":
        if args.medium_step is not None:
            near = [r for r in rows if r["step"] == args.medium_step]
        # stochastic returns sit below the deterministic ones: shortlist around the target from above
        else:
            near = sorted(rows, key=lambda r: abs(r["eval_return_mean"] - 1.1 * args.medium_target))
            near = near[: 2 * args.shortlist]
        medium_scored = {r["step"]: evaluate(args.run / f"policy_{r['step']}.pt") for r in near}
        levels["medium"] = min(
            medium_scored,
            key=lambda s: abs(medium_scored[s]["eval_return_mean"] - args.medium_target),
        )
        scored.update(medium_scored)

    wall = {r["step"]: r["wall_s"] for r in rows}
    # the run is runs/sac-halfcheetah
    options = " ".join(a for a in sys.argv[2:] if not a.startswith("--sac-commit"))
    command = (
        f"minirl baseline sac --env halfcheetah --steps {config['total_steps']} --seed {config['seed']} "
        f"--out runs/sac-halfcheetah; python docs/scripts/make_behaviour_policies.py runs/sac-halfcheetah "
        f"{options}"
    ).strip()
    for level, step in levels.items():
        shutil.copy(args.run / f"policy_{step}.pt", POLICIES / f"halfcheetah-{level}.pt")
        card = {
            "level": level,
            "algorithm": "SAC (minirl/baselines/sac.py)",
            "env": "HalfCheetah-v5",
            "training_steps": step,
            "snapshot": f"policy_{step}.pt",
            "seed": config["seed"],
            "hidden": config["hidden"],
            "command": command,
            "sac_commit": args.sac_commit or commit_of(ROOT / "minirl" / "baselines" / "sac.py"),
            "wall_seconds": round(wall[step], 1),
            "sac_config": config,
            **scored[step],
            "note": "eval_return_* over 10 episodes (seeds 0-9); 'mean/std' use stochastic actions, as the "
            "datasets do; 'deterministic' uses the Gaussian mean.",
        }
        (POLICIES / f"halfcheetah-{level}.json").write_text(json.dumps(card, indent=1))
        print(level, step, scored[step])

    if "medium" in levels:
        # the newest rows; replay_buffer.npz lags by up to 50k
        buffer_path = args.run / "checkpoint" / "buffer.npz"
        with np.load(buffer_path) as buffer:
            n = buffer_rows_at(buffer, levels["medium"])
            np.savez_compressed(
                POLICIES / "halfcheetah-medium-replay.npz",
                **{k: buffer[k][:n] for k in buffer.files if k not in ("env_index", "n")},
            )
        print("medium-replay", n, "transitions")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    all_rows = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines()]
    steps = np.array([r["step"] for r in all_rows])
    mean = np.array([r["eval_return_mean"] for r in all_rows])
    std = np.array([r["eval_return_std"] for r in all_rows])
    ax.plot(
        steps / 1000,
        mean,
        label=f"run {args.run.name}, seed {config['seed']}: 5 deterministic episodes",
    )
    ax.fill_between(steps / 1000, mean - std, mean + std, alpha=0.3)
    # only the levels picked from this run: a card written from another execution has its own curve
    for level in levels:
        card = json.loads((POLICIES / f"halfcheetah-{level}.json").read_text())
        step, ret = card["training_steps"], card["eval_return_mean"]
        ax.axvline(step / 1000, ls="--", color="gray")
        ax.annotate(
            f"{level}: {ret:.0f}\n(10 stochastic episodes)",
            (step / 1000, ret),
            xytext=(4, -28),
            textcoords="offset points",
            fontsize=8,
        )
    ax.axhline(
        args.medium_target, ls=":", color="C1", label=f"D4RL medium data ({args.medium_target:.0f})"
    )
    ax.axhline(10650, ls=":", color="C2", label="D4RL expert data (10650)")
    ax.set_xlabel("environment steps (thousands)")
    ax.set_ylabel("episode return")
    ax.set_title("SAC on HalfCheetah-v5: the shipped behaviour policies")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "figures" / "sac_halfcheetah.png", dpi=120)


if __name__ == "__main__":
    main()
