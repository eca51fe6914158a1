"""`minirl compare`: every algorithm on every dataset over several seeds, in the blog's table layout.

For each dataset x algorithm x seed: reuse the finished run if one exists, else train it (`train.run_training`,
optionally capped at `budget_minutes`), then evaluate it (`evaluate.evaluate_run`, reusing its eval.json when that
was made with the same episodes and settings). A run lives in `runs_dir/<algo>-<dataset>-s<seed>-<hash8>`, where
hash8 is a content key over the algorithm, its full config (steps included), the dataset (name and a fingerprint
of its contents), the seed and the time budget: change any of them and a new run is trained; change none and
calling compare again costs only the table.

Scores: HalfCheetah and PointMaze as the D4RL-normalized score (0 = random, 100 = expert; PointMaze with maze2d's
reference returns), BabyAI as the success rate in %;
mean ± std over seeds. Written to `out`: compare.md, compare.csv and the bar chart compare.png. Next to our table
the papers' own HalfCheetah numbers are printed, labelled as what they are: results on D4RL's data, not ours.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from minirl import data, runs, train, validate
from minirl.display import GridBar, fits, setting_text
from minirl.display import table as make_table
from minirl.envs import UnknownNameError, get_spec
from minirl.evaluate import eval_settings, evaluate_run

NAMES = {"bc": "BC", "cql": "CQL", "iql": "IQL", "dt": "DT", "tt": "TT", "leap": "LEAP"}
TYPES = {
    "bc": "Imitation",
    "cql": "TD learning",
    "iql": "TD learning",
    "dt": "Seq. modeling",
    "tt": "Seq. modeling",
    "leap": "Energy-based",
}
EVAL_SEED = 0  # the seed of the first evaluation episode, as `minirl eval` uses by default

# D4RL HalfCheetah-v2 normalized scores as the papers report them (on D4RL's data, not ours). BC, CQL, IQL and DT:
# Kostrikov et al. 2021 (IQL), Table 1; TT: Janner et al. 2021, Table 1. LEAP reports no HalfCheetah results.
PAPER_DATASETS = ("halfcheetah-medium", "halfcheetah-medium-replay", "halfcheetah-medium-expert")
PAPER_SCORES = {
    "bc": (42.6, 36.6, 55.2),
    "cql": (44.0, 45.5, 91.6),
    "iql": (47.4, 44.2, 86.7),
    "dt": (42.6, 36.6, 86.8),
    "tt": (46.9, 41.9, 95.0),
    "leap": None,
}


def paper_score(algo: str, dataset: str) -> float | None:
    scores = PAPER_SCORES.get(algo)
    return scores[PAPER_DATASETS.index(dataset)] if scores and dataset in PAPER_DATASETS else None


# ---------------------------------------------------------------------------------------------- runs


def available_modules(algos: list[str], console: Console) -> dict:
    """algo -> module for the algorithms that import; one line on the console for each that does not (it is
    skipped). Unknown names raise UnknownNameError."""
    modules = {}
    for algo in algos:
        try:
            module = runs.algo_module(algo)
        except UnknownNameError:
            raise
        except Exception as e:  # noqa: BLE001  (a missing or broken module: say so in one line, carry on)
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            console.print(
                f"error: {algo} cannot be imported ({reason}); skipped",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            continue
        modules[algo] = module
    return modules


def dataset_fingerprint(dataset: str, progress: bool) -> dict:
    """Size and reward sum of a dataset (built first if missing): part of the run key, so a re-collected dataset of
    another size or content trains new runs instead of reusing old ones."""
    episodes = data.ensure(dataset, progress=progress)
    return {
        "episodes": len(episodes),
        "transitions": int(sum(len(ep["rewards"]) for ep in episodes)),
        "reward_sum": round(float(sum(ep["rewards"].sum() for ep in episodes)), 4),
    }


def run_key(
    algo: str,
    dataset: str,
    seed: int,
    config: dict,
    fingerprint: dict,
    budget_minutes: float | None,
) -> str:
    """8 hex digits of a hash over everything that decides what a training run produces."""
    blob = json.dumps(
        {
            "algo": algo,
            "dataset": dataset,
            "seed": seed,
            "config": config,
            "data": fingerprint,
            "budget_minutes": budget_minutes,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def run_dir_for(runs_dir: Path, algo: str, dataset: str, seed: int, key: str) -> Path:
    return Path(runs_dir) / f"{algo}-{dataset.replace('/', '_')}-s{seed}-{key}"


def train_or_reuse(
    algo: str,
    dataset: str,
    seed: int,
    run_dir: Path,
    steps: int | None,
    budget_minutes: float | None,
    device: str,
    progress: bool,
    overrides: dict | None = None,
) -> str:
    """Makes sure run_dir holds a finished run; returns 'reused', 'resumed', 'trained' or 'retrained (stale
    checkpoint)': a run whose checkpoint the current model code cannot load (written by an older version of the
    algorithm) is trained again from scratch in the same folder, which replaces minirl's own files there (its
    eval.json must not be reused either) and leaves any other file alone."""
    stale = False
    if (run_dir / "checkpoint.pt").exists():
        try:
            state = runs.load_run(run_dir)[-1]
        except runs.RunError:
            stale = True
        else:
            if state.get("finished"):
                return "reused"
            train.run_training(
                algo,
                dataset,
                steps=steps,
                seed=seed,
                out=run_dir,
                resume=True,
                device=device,
                budget_minutes=budget_minutes,
                overrides=overrides,
                progress=progress,
            )
            return "resumed"
    train.run_training(
        algo,
        dataset,
        steps=steps,
        seed=seed,
        out=run_dir,
        device=device,
        budget_minutes=budget_minutes,
        overrides=overrides,
        progress=progress,
        overwrite=stale,
    )
    return "retrained (stale checkpoint)" if stale else "trained"


def evaluate_or_reuse(
    module,
    run_dir: Path,
    env: str,
    episodes: int,
    step: int,
    progress: bool,
    fields: dict | None = None,
) -> tuple[list[dict], bool]:
    """The eval results of a run (one per evaluation setting) and whether they came from an existing eval.json
    made with the same episodes, first seed, settings (EvalOptions `fields`) and training step."""
    path = run_dir / "eval.json"
    if path.exists():
        try:
            results = json.loads(path.read_text())["runs"]
            # as JSON would store them
            wanted = json.loads(json.dumps(eval_settings(module, env, fields or {})))
            if (
                results
                and [r["options"] for r in results] == wanted
                and all(
                    r["episodes"] == episodes
                    and r["seed"] == EVAL_SEED
                    and r.get("train_step") == step
                    for r in results
                )
            ):
                return results, True
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable or from another version: evaluate again
    evaluation = evaluate_run(
        run_dir, episodes=episodes, seed=EVAL_SEED, progress=progress, overrides=fields
    )
    return evaluation["runs"], False


def score_of(result: dict) -> float:
    """HalfCheetah and PointMaze: normalized score; BabyAI: success rate in %."""
    return (
        result["normalized_score"]
        if "normalized_score" in result
        else 100.0 * result["success_rate"]
    )


def metric_name(dataset: str) -> str:
    return "success %" if get_spec(dataset_env(dataset)).discrete else "normalized score"


def dataset_env(dataset: str) -> str:
    return data.env_of(dataset)


# ---------------------------------------------------------------------------------------------- the comparison


def run(
    datasets: list[str],
    algos: list[str],
    seeds: int,
    budget_minutes: float | None = None,
    steps: int | None = None,
    episodes: int = 10,
    out: str | Path = "runs/compare-table",
    runs_dir: str | Path = "runs/compare",
    console: Console | None = None,
    device: str = "auto",
    progress: bool | None = None,
    overrides: dict[str, dict] | None = None,
    eval_overrides: dict[str, dict] | None = None,
    first_seed: int = 0,
) -> dict:
    """Trains (or reuses) and evaluates every algorithm on every dataset with seeds first_seed..first_seed+seeds-1
    (a seed's run is the same whichever call makes it, so seeds can run in separate processes, one per core, and a
    later call over all of them reuses every run); prints and writes the table. `overrides` maps an algorithm to
    config fields it trains with on every dataset ({"dt": {"lr": 3e-4}}); they are part of each run's key.
    `eval_overrides` maps an algorithm to EvalOptions fields it is evaluated with ({"tt": {"horizon": 1}}); they
    are not part of the key (a run is trained once, evaluated again when they change: an eval.json is reused only
    for the same settings). Returns {"rows": per-run dicts, "summary": per (algo, dataset) dicts, "files": written
    paths}."""
    console = console or Console()
    progress = console.is_terminal if progress is None else progress
    if not datasets or not algos:
        raise ValueError("give at least one dataset and one algorithm")
    if seeds < 1 or episodes < 1 or (steps is not None and steps < 1):
        raise ValueError("seeds, episodes and steps must be positive integers")
    if first_seed < 0:
        raise ValueError("the first seed must be 0 or more")
    for algo in algos:
        if algo not in runs.ALGOS:
            raise UnknownNameError(f"unknown algorithm '{algo}'; valid: {', '.join(runs.ALGOS)}")
    overrides, eval_overrides = overrides or {}, eval_overrides or {}
    for flag, given in (("--set", overrides), ("--eval-set", eval_overrides)):
        for algo in given:
            if algo not in algos:
                raise ValueError(
                    f"{flag} names '{algo}', which is not among --algos ({', '.join(algos)})"
                )
    # unknown dataset names fail here, in one line
    envs = {dataset: dataset_env(dataset) for dataset in datasets}
    modules = available_modules(algos, console)
    if not modules:
        raise runs.RunError(f"none of {', '.join(algos)} can be run (see the errors above)")
    # bad --set values fail here, before any dataset is built
    for algo, fields in overrides.items():
        if algo in modules:
            validate.config_values(modules[algo].Config, fields, algo, label=f"--set {algo}.")
    eval_fields = {
        algo: validate.config_values(
            modules[algo].EvalOptions, fields, algo, label=f"--eval-set {algo}."
        )
        for algo, fields in eval_overrides.items()
        if algo in modules
    }

    rows = []
    total, done = len(datasets) * len(modules) * seeds, 0
    # one bar for the whole grid; each run's training and eval bars show below it
    with GridBar(total, progress) as grid:
        for dataset in datasets:
            fingerprint = dataset_fingerprint(dataset, progress)
            for algo, module in modules.items():
                fields = dict(overrides.get(algo, {}), **({"steps": steps} if steps else {}))
                config = dataclasses.asdict(
                    train.make_config(module, fields, envs[dataset], label=f"--set {algo}.")
                )
                for seed in range(first_seed, first_seed + seeds):
                    key = run_key(algo, dataset, seed, config, fingerprint, budget_minutes)
                    run_dir = run_dir_for(Path(runs_dir), algo, dataset, seed, key)
                    status = f"{algo} on {dataset}, seed {seed}"
                    grid.status(f"{status}: training")
                    how = train_or_reuse(
                        algo,
                        dataset,
                        seed,
                        run_dir,
                        steps,
                        budget_minutes,
                        device,
                        progress,
                        overrides.get(algo),
                    )
                    state = runs.load_checkpoint(run_dir)
                    grid.status(f"{status}: evaluating")
                    results, eval_reused = evaluate_or_reuse(
                        module,
                        run_dir,
                        envs[dataset],
                        episodes,
                        state["step"],
                        progress,
                        eval_fields.get(algo),
                    )
                    # one setting, or the best of a default sweep (DT's targets)
                    best = max(results, key=score_of)
                    done += 1
                    grid.status(f"{status}: done", done)
                    rows.append(
                        {
                            "algo": algo,
                            "dataset": dataset,
                            "seed": seed,
                            "metric": metric_name(dataset),
                            "score": score_of(best),
                            "return_mean": best["return_mean"],
                            "setting": setting_text(best["options"]),
                            "overrides": ", ".join(
                                f"{k}={v}" for k, v in overrides.get(algo, {}).items()
                            ),
                            "train_steps": state["step"],
                            "train_minutes": state.get("train_seconds", 0.0) / 60,
                            "episodes": episodes,
                            "run": str(run_dir),
                            "trained": how,
                            "eval_reused": eval_reused,
                        }
                    )
                    console.print(
                        f"[{done}/{total}] {algo} on {dataset}, seed {seed}: {how}, "
                        f"{'eval reused' if eval_reused else 'evaluated'}: {rows[-1]['metric']} "
                        f"{rows[-1]['score']:.1f}  ({run_dir})",
                        markup=False,
                        highlight=False,
                        soft_wrap=True,
                    )

    summary = summarize(rows, list(modules), datasets)
    console.print(results_table(summary, list(modules), datasets, seeds, episodes, console.width))
    if any(dataset.startswith("halfcheetah-") for dataset in datasets):
        console.print(paper_table(list(modules)))  # the papers' numbers are for HalfCheetah only
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = [
        write_csv(summary, out / "compare.csv"),
        write_markdown(summary, rows, list(modules), datasets, seeds, episodes, out / "compare.md"),
        plot(summary, list(modules), datasets, seeds, out / "compare.png"),
    ]
    for path in files:
        console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)
    return {"rows": rows, "summary": summary, "files": files}


def summarize(rows: list[dict], algos: list[str], datasets: list[str]) -> list[dict]:
    """One dict per (algo, dataset): mean and std (population, over seeds) of the score, per-seed values."""
    summary = []
    for algo in algos:
        for dataset in datasets:
            values = [r["score"] for r in rows if r["algo"] == algo and r["dataset"] == dataset]
            if values:
                summary.append(
                    {
                        "algo": algo,
                        "dataset": dataset,
                        "metric": metric_name(dataset),
                        "mean": float(np.mean(values)),
                        "std": float(np.std(values)),
                        "seeds": len(values),
                        "values": values,
                        "paper": paper_score(algo, dataset),
                    }
                )
    return summary


def _cell(summary: list[dict], algo: str, dataset: str) -> str:
    for s in summary:
        if s["algo"] == algo and s["dataset"] == dataset:
            return f"{s['mean']:.1f} ± {s['std']:.1f}"
    return "-"


def _header(dataset: str) -> str:
    return f"{dataset} ({metric_name(dataset)})"


def results_table(
    summary: list[dict],
    algos: list[str],
    datasets: list[str],
    seeds: int,
    episodes: int,
    width: int = 80,
) -> Table:
    """The blog's layout (a row per algorithm, a column per dataset) where it fits in `width` columns; else the same
    numbers stacked, one row per algorithm and dataset, so nothing is cut."""
    title = f"minirl: our runs on our datasets (mean ± std over {seeds} seed(s), {episodes} episodes each)"
    wide = make_table("Method", "Type", *[_header(d) for d in datasets], title=title)
    for algo in algos:
        wide.add_row(
            NAMES.get(algo, algo), TYPES.get(algo, ""), *[_cell(summary, algo, d) for d in datasets]
        )
    if fits(wide, width):
        return wide
    stacked = make_table("Method", "dataset", "metric", "score", title=title)
    for dataset in datasets:
        for i, algo in enumerate(algos):
            stacked.add_row(
                NAMES.get(algo, algo),
                dataset,
                metric_name(dataset),
                _cell(summary, algo, dataset),
                end_section=i == len(algos) - 1,
            )
    return stacked


def paper_table(algos: list[str]) -> Table:
    table = make_table(
        "Method",
        *[d.removeprefix("halfcheetah-") for d in PAPER_DATASETS],
        title="The papers' figures on D4RL's HalfCheetah-v2 data, NOT ours (normalized score)",
        caption="BC, CQL, IQL, DT: Kostrikov et al. 2021 (IQL), Table 1; TT: Janner et al. 2021",
    )
    for algo in algos:
        scores = PAPER_SCORES.get(algo)
        cells = [f"{v:.1f}" for v in scores] if scores else ["not reported"] * len(PAPER_DATASETS)
        table.add_row(NAMES.get(algo, algo), *cells)
    return table


# ---------------------------------------------------------------------------------------------- files


def write_csv(summary: list[dict], path: Path) -> Path:
    """One row per (algo, dataset): metric, mean, std, seeds, per-seed values (';'-joined), the papers' number."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["algo", "dataset", "metric", "mean", "std", "seeds", "values", "paper_d4rl"]
        )
        for s in summary:
            writer.writerow(
                [
                    s["algo"],
                    s["dataset"],
                    s["metric"],
                    f"{s['mean']:.2f}",
                    f"{s['std']:.2f}",
                    s["seeds"],
                    ";".join(f"{v:.2f}" for v in s["values"]),
                    "" if s["paper"] is None else s["paper"],
                ]
            )
    return path


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows]) + "\n"


def write_markdown(
    summary: list[dict],
    rows: list[dict],
    algos: list[str],
    datasets: list[str],
    seeds: int,
    episodes: int,
    path: Path,
) -> Path:
    ours = _markdown(
        ["Method", "Type", *[_header(d) for d in datasets]],
        [
            [NAMES.get(a, a), TYPES.get(a, ""), *[_cell(summary, a, d) for d in datasets]]
            for a in algos
        ],
    )
    papers = _markdown(
        ["Method", *PAPER_DATASETS],
        [
            [
                NAMES.get(a, a),
                *(
                    [f"{v:.1f}" for v in PAPER_SCORES[a]]
                    if PAPER_SCORES.get(a)
                    else ["not reported"] * 3
                ),
            ]
            for a in algos
        ],
    )
    run_table = _markdown(
        [
            "algo",
            "dataset",
            "seed",
            "score",
            "setting",
            "config overrides",
            "train steps",
            "train min",
            "run",
        ],
        [
            [
                r["algo"],
                r["dataset"],
                str(r["seed"]),
                f"{r['score']:.1f}",
                r["setting"] or "-",
                r.get("overrides") or "-",
                str(r["train_steps"]),
                f"{r['train_minutes']:.1f}",
                f"`{r['run']}`",
            ]
            for r in rows
        ],
    )
    text = (
        f"# minirl compare\n\nOur runs on our datasets: mean ± std over {seeds} seed(s), {episodes} evaluation "
        "episodes per run. HalfCheetah and PointMaze: D4RL-normalized score; BabyAI: success rate in %.\n\n"
        + ours
        + "\n## The papers' figures (D4RL HalfCheetah-v2 data, not ours)\n\nNormalized scores as reported: BC, CQL, "
        "IQL, DT from Kostrikov et al. 2021 (IQL), Table 1; TT from Janner et al. 2021. Our HalfCheetah datasets "
        "are made by minirl's own SAC policies on HalfCheetah-v5, so the numbers are comparable in kind, not "
        "equal by construction.\n\n" + papers + "\n## Runs\n\n" + run_table
    )
    path.write_text(text)
    return path


def plot(
    summary: list[dict], algos: list[str], datasets: list[str], seeds: int, path: Path
) -> Path:
    """One panel per dataset: a bar per algorithm (mean, std error bar, seeds as dots), the papers' score as a
    black tick where one exists."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1.6 + 1.1 * len(algos) * len(datasets), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(1, len(datasets), squeeze=False)[0])
    colors = {a: f"C{i}" for i, a in enumerate(algos)}
    for ax, dataset in zip(axes, datasets):
        paper_drawn = False
        for x, algo in enumerate(algos):
            s = next((s for s in summary if s["algo"] == algo and s["dataset"] == dataset), None)
            if s is None:
                continue
            ax.bar(
                x,
                s["mean"],
                yerr=s["std"] if s["seeds"] > 1 else None,
                color=colors[algo],
                capsize=4,
                alpha=0.85,
            )
            ax.scatter([x] * len(s["values"]), s["values"], color="k", s=10, zorder=3)
            if s["paper"] is not None:
                ax.plot(
                    [x - 0.4, x + 0.4],
                    [s["paper"]] * 2,
                    color="k",
                    lw=2,
                    ls="--",
                    label=None if paper_drawn else "paper (D4RL data)",
                )
                paper_drawn = True
        ax.set_xticks(range(len(algos)), [NAMES.get(a, a) for a in algos])
        ax.set_xlabel("algorithm")
        ax.set_ylabel(
            "success rate (%)"
            if get_spec(dataset_env(dataset)).discrete
            else "D4RL normalized score"
        )
        ax.set_title(dataset)
        if paper_drawn:
            ax.legend(loc="best", fontsize=8)
    fig.suptitle(
        f"minirl compare: {', '.join(NAMES.get(a, a) for a in algos)} "
        f"(mean ± std over {seeds} seed(s))"
    )
    fig.savefig(path, dpi=120)
    return path
