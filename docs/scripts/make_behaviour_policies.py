"""Pick the shipped HalfCheetah behaviour policies from a finished SAC run (D4RL's recipe), and write their cards.

    minirl baseline sac --env halfcheetah --steps 300000 --seed 1 --out runs/sac-halfcheetah
    python docs/scripts/make_behaviour_policies.py runs/sac-halfcheetah [--max-step N]
    python docs/scripts/make_behaviour_policies.py runs/sac-long --only expert --medium-run runs/sac-halfcheetah

expert = the snapshot with the best 10-episode return (stochastic actions, as the datasets are collected);
medium = the snapshot whose return is closest to one third of the expert's. Writes minirl/policies/halfcheetah-
{medium,expert}.{pt,json}, the replay buffer up to the medium snapshot (halfcheetah-medium-replay.npz), and the SAC
learning curve docs/figures/sac_halfcheetah.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from minirl.baselines.sac import Actor, evaluate_policy

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "minirl" / "policies"


def load_actor(path: Path) -> Actor:
    actor = Actor(17, 6, 256, -1.0, 1.0)
    actor.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return actor.eval()


def evaluate(path: Path, episodes: int = 10) -> dict:
    actor = load_actor(path)
    torch.manual_seed(0)  # the action noise: the same card for the same snapshot, whatever was evaluated before
    stochastic = evaluate_policy(actor, "HalfCheetah-v5", episodes, seed=0, deterministic=False)
    deterministic = evaluate_policy(actor, "HalfCheetah-v5", episodes, seed=0, deterministic=True)
    return {"eval_return_mean": float(np.mean(stochastic)), "eval_return_std": float(np.std(stochastic)),
            "eval_return_deterministic_mean": float(np.mean(deterministic)),
            "eval_return_deterministic_std": float(np.std(deterministic)), "eval_episodes": episodes}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("--max-step", type=int, default=None)
    parser.add_argument("--shortlist", type=int, default=4, help="snapshots per level evaluated with 10 episodes")
    parser.add_argument("--medium-step", type=int, default=None, help="use this snapshot as medium (skip the rule)")
    parser.add_argument("--only", choices=["medium", "expert"], default=None, help="write only this level")
    parser.add_argument("--medium-run", type=Path, default=None,
                        help="with --only expert: the run the shipped medium came from, drawn next to this one")
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [json.loads(line) for line in (args.run / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if (args.run / f"policy_{r['step']}.pt").exists()
            and (args.max_step is None or r["step"] <= args.max_step)]
    config = json.loads((args.run / "config.json").read_text())

    # expert: the best of the top snapshots by the run's own (5-episode, deterministic) evaluations
    scored, levels = {}, {}
    if args.only != "medium":
        top = sorted(rows, key=lambda r: -r["eval_return_mean"])[: args.shortlist]
        scored = {r["step"]: evaluate(args.run / f"policy_{r['step']}.pt") for r in top}
        levels["expert"] = max(scored, key=lambda s: scored[s]["eval_return_mean"])
    if args.only != "expert":
        if args.medium_step is not None:  # chosen by hand (e.g. before the expert is known)
            near = [r for r in rows if r["step"] == args.medium_step]
        else:  # the snapshot whose return is closest to a third of the expert's
            target = scored[levels["expert"]]["eval_return_mean"] / 3
            near = sorted((r for r in rows if r["step"] < levels["expert"]),
                          key=lambda r: abs(r["eval_return_mean"] - target))[: args.shortlist]
        medium_scored = {r["step"]: evaluate(args.run / f"policy_{r['step']}.pt") for r in near}
        target = medium_scored[near[0]["step"]]["eval_return_mean"] if args.medium_step else target
        levels["medium"] = min(medium_scored, key=lambda s: abs(medium_scored[s]["eval_return_mean"] - target))
        scored.update(medium_scored)

    wall = {r["step"]: r["wall_s"] for r in rows}
    for level, step in levels.items():
        shutil.copy(args.run / f"policy_{step}.pt", POLICIES / f"halfcheetah-{level}.pt")
        card = {"level": level, "algorithm": "SAC (minirl/baselines/sac.py)", "env": "HalfCheetah-v5",
                "training_steps": step, "seed": config["seed"], "hidden": config["hidden"],
                "wall_seconds": round(wall[step], 1), "sac_config": config, **scored[step],
                "note": "eval_return_* over 10 episodes (seeds 0-9); 'mean/std' use stochastic actions, as the "
                        "datasets do; 'deterministic' uses the Gaussian mean."}
        (POLICIES / f"halfcheetah-{level}.json").write_text(json.dumps(card, indent=1))
        print(level, step, scored[step])

    if "medium" in levels:
        with np.load(args.run / "replay_buffer.npz") as buffer:
            n = levels["medium"]  # rows were stored one per environment step, in order
            np.savez_compressed(POLICIES / "halfcheetah-medium-replay.npz",
                                **{k: buffer[k][:n] for k in buffer.files if k != "env_index"})

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    runs = [(args.run, f"run {args.run.name}, seed {config['seed']}")]
    if args.medium_run is not None:
        seed = json.loads((args.medium_run / "config.json").read_text())["seed"]
        runs.append((args.medium_run, f"run {args.medium_run.name}, seed {seed} (the medium's)"))
    for run, label in runs:
        all_rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        steps = np.array([r["step"] for r in all_rows])
        mean = np.array([r["eval_return_mean"] for r in all_rows])
        std = np.array([r["eval_return_std"] for r in all_rows])
        ax.plot(steps / 1000, mean, label=f"{label}: 5 deterministic episodes")
        ax.fill_between(steps / 1000, mean - std, mean + std, alpha=0.3)
    cards = {level: (step, scored[step]["eval_return_mean"]) for level, step in levels.items()}
    if args.medium_run is not None:
        medium = json.loads((POLICIES / "halfcheetah-medium.json").read_text())
        cards["medium"] = (medium["training_steps"], medium["eval_return_mean"])
    for level, (step, ret) in cards.items():
        ax.axvline(step / 1000, ls="--", color="gray")
        ax.annotate(f"{level}: {ret:.0f}\n(10 stochastic episodes)", (step / 1000, ret), xytext=(4, -28),
                    textcoords="offset points", fontsize=8)
    ax.set_xlabel("environment steps (thousands)")
    ax.set_ylabel("episode return")
    ax.set_title("SAC on HalfCheetah-v5: the shipped behaviour policies")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "figures" / "sac_halfcheetah.png", dpi=120)


if __name__ == "__main__":
    main()
