"""minirl's command line: `minirl data|train|eval|analyze|compare|bench|baseline|lessons`.

Thin by design: each command parses and validates its options, calls one function in `minirl`, and prints. Any
error a user can cause (unknown names, missing or corrupt runs, bad sizes, unwritable paths) ends with one line on
stderr and a non-zero exit, never a traceback (set MINIRL_DEBUG=1 to see one). Numbers are checked in one place,
minirl/validate.py: each numeric option below names its range (`callback=in_range("[1, 10_000]")`), and `--set`
fields are checked against the ranges their algorithm's Config declares.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import tempfile
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperGroup

from minirl import validate


class OneLineErrors(TyperGroup):
    """Usage errors (a value that is not a number, an unknown option, a missing argument) end in one line on stderr
    and exit code 2, like every other bad input, instead of Typer's usage box."""

    def make_context(self, *args, **kwargs):
        with one_line_usage_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        with one_line_usage_errors():
            return super().invoke(ctx)


@contextlib.contextmanager
def one_line_usage_errors():
    try:
        yield
    except typer.BadParameter.__mro__[1] as e:  # click's UsageError, the base of every parse error
        # the help text itself, shown for a bare command
        if type(e).__name__ == "NoArgsIsHelpError":
            raise
        typer.echo(f"error: {e.format_message().splitlines()[0]}", err=True)
        raise typer.Exit(2) from None


app = typer.Typer(
    cls=OneLineErrors,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Offline RL as sequence modeling: Decision Transformer, Trajectory Transformer and LEAP.",
)
data_app = typer.Typer(no_args_is_help=True, help="Make, list, inspect and remove Minari datasets.")
baseline_app = typer.Typer(
    no_args_is_help=True, help="Online baselines (SAC: the behaviour-policy learner)."
)
app.add_typer(data_app, name="data")
app.add_typer(baseline_app, name="baseline")
import_app = typer.Typer(
    no_args_is_help=True, help="Turn models trained elsewhere into minirl runs."
)
app.add_typer(import_app, name="import")
console = Console()


def _interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def user_errors():
    """Turns any exception into one clear line and exit code 1 (130 for Ctrl-C); the checkpoint on disk is kept.

    `kill PID` (SIGTERM) stops a run as Ctrl-C does, checkpoint first: a job started in the background (nohup, a
    batch script) ignores Ctrl-C's SIGINT, and SIGTERM is how it is stopped."""
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        yield
    except typer.Exit:
        raise
    except KeyboardInterrupt:
        typer.echo("interrupted; the last checkpoint is kept (continue with --resume)", err=True)
        raise typer.Exit(130) from None
    except Exception as e:  # noqa: BLE001
        if os.environ.get("MINIRL_DEBUG"):
            raise
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        if isinstance(e, (FileNotFoundError, PermissionError, IsADirectoryError)) and e.filename:
            message = f"{e.strerror}: {e.filename}"
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(1) from None
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def in_range(accepts: str):
    """A Typer callback that checks a (typed) numeric option against the range `accepts` ("[1, 10_000]"); None, an
    option not given, passes. Out of range, NaN or infinite: "Invalid value for '--x': must be … in …, got …"."""

    def check(ctx: typer.Context, param: typer.CallbackParam, value):
        if value is None:
            return None
        try:
            return validate.convert(value, type(value), accepts, "it")
        except validate.BadValue as e:
            raise typer.BadParameter(str(e).removeprefix("it "), ctx, param) from None

    return check


SEED = "[0, 4_294_967_295]"  # what numpy, torch and Gymnasium all accept (32 bits)


def parse_overrides(pairs: list[str] | None, flag: str = "--set") -> dict:
    """`--set n_layer=4 --set lr=3e-4` -> {"n_layer": "4", "lr": "3e-4"}: the text is converted, and checked, by
    train.make_config against the algorithm's Config (`--eval-set`, `minirl eval --set`: its EvalOptions)."""
    out = {}
    for pair in pairs or []:
        key, equals, value = pair.partition("=")
        if not equals or not key.strip():
            raise typer.BadParameter(f"{flag} expects key=value, got '{pair}'")
        out[key.strip()] = value.strip()
    return out


def parse_algo_overrides(pairs: list[str] | None, flag: str = "--set") -> dict[str, dict]:
    """`--set dt.lr=3e-4 --set tt.n_layer=2` -> {"dt": {"lr": 0.0003}, "tt": {"n_layer": 2}}."""
    out: dict[str, dict] = {}
    for pair in pairs or []:
        algo, dot, rest = pair.partition(".")
        if not dot or "=" not in rest or "=" in algo:
            raise typer.BadParameter(
                f"{flag} expects algo.key=value (e.g. dt.lr=3e-4), got '{pair}'"
            )
        out.setdefault(algo, {}).update(parse_overrides([rest], flag))
    return out


def writable_dir(path: Path) -> Path:
    """Creates `path` if needed and checks it can be written, before any long work starts."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        # a uniquely named probe: two runs started at once under the same folder must not unlink each other's
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        raise typer.BadParameter(f"cannot write to '{path}'") from None
    return path


# ---------------------------------------------------------------------------------------------- data


@data_app.command("collect")
def data_collect(
    name: Annotated[
        str, typer.Argument(help="Dataset name, e.g. halfcheetah-random or babyai-gotolocal.")
    ],
    episodes: Annotated[
        int | None,
        typer.Option(help="Number of episodes (BabyAI).", callback=in_range("[1, 1_000_000]")),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            help="Number of transitions (HalfCheetah; D4RL uses 1M).",
            callback=in_range("[1, 100_000_000]"),
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            help="Random seed: the same seed rebuilds identical arrays.", callback=in_range(SEED)
        ),
    ] = 0,
    noise: Annotated[
        float,
        typer.Option(
            help="BabyAI: fraction of random actions in the bot's demonstrations.",
            callback=in_range("[0, 1]"),
        ),
    ] = 0.0,
    overwrite: Annotated[
        bool, typer.Option(help="Replace an existing dataset of that name.")
    ] = False,
    obs: Annotated[
        str | None,
        typer.Option(
            help="BabyAI observation mode: egocentric (the 7x7 view, default) or full (the LEAP paper's "
            "input: the whole grid, the agent's cell and the BabyAI bot's goal cell, i.e. PRIVILEGED "
            "information); full writes NAME-full, e.g. babyai-gotolocal-full.",
        ),
    ] = None,
    bot: Annotated[
        str,
        typer.Option(
            help="BabyAI demonstrator: minigrid (its bot maps what its view has shown, so it explores) or "
            "omniscient (the whole grid in its map, missions naming one object only: the LEAP paper's demos)."
        ),
    ] = "minigrid",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Datasets folder to write to (default: MINARI_DATASETS_PATH "
            "or ~/.minari/datasets)."
        ),
    ] = None,
):
    """Make a dataset offline and write it in Minari format.

    Example: minirl data collect babyai-gotolocal --episodes 1000 (add --obs full for babyai-gotolocal-full)
    """
    with user_errors():
        from minirl import data

        name = data.dataset_name(name, obs)
        with data.datasets_root(data_dir):
            path = data.collect(
                name,
                episodes=episodes,
                steps=steps,
                seed=seed,
                noise=noise,
                overwrite=overwrite,
                bot=bot,
            )
            console.print(f"wrote {name} to {path}")
            _print_info(name)


@data_app.command("list")
def data_list():
    """List the minirl datasets on disk. Example: minirl data list"""
    with user_errors():
        from minirl import data
        from minirl.display import table

        root = data.get_dataset_path()
        rows = table(
            "dataset", "episodes", "transitions", "folder", title=f"minirl datasets in {root}"
        )
        for row in data.list_datasets():
            folder = Path(row["path"])
            rows.add_row(
                row["name"],
                f"{row['episodes']:,}",
                f"{row['transitions']:,}",
                str(folder.relative_to(root) if folder.is_relative_to(root) else folder),
            )
        console.print(rows)


def _print_info(name: str):
    from minirl import data
    from minirl.display import table

    rows = table("field", "value", title=name)
    for key, value in data.info(name).items():
        # a field that does not apply (BabyAI's normalized score, HalfCheetah's success rate) is left out
        if value is not None:
            rows.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(rows)


@data_app.command("info")
def data_info(name: Annotated[str, typer.Argument(help="Dataset name.")]):
    """Episodes, transitions, returns and normalized score of a dataset. Example: minirl data info halfcheetah-medium"""
    with user_errors():
        _print_info(name)


@data_app.command("remove")
def data_remove(name: Annotated[str, typer.Argument(help="Dataset name.")]):
    """Delete a dataset from disk. Example: minirl data remove babyai-gotolocal"""
    with user_errors():
        from minirl import data

        data.remove(name)
        console.print(f"removed {name}")


# ---------------------------------------------------------------------------------------------- train / eval


@app.command()
def train(
    algo: Annotated[str, typer.Argument(help="dt, tt, leap, bc, cql or iql.")],
    dataset: Annotated[
        str, typer.Option(help="Dataset name (built first if missing).")
    ] = "halfcheetah-medium",
    steps: Annotated[
        int | None,
        typer.Option(
            help="Gradient steps (default: the algorithm's config).",
            callback=in_range("[1, 100_000_000]"),
        ),
    ] = None,
    budget_minutes: Annotated[
        float | None,
        typer.Option(
            help="Stop (checkpointed) after N minutes.", callback=in_range("(0, 525_600]")
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.", callback=in_range(SEED))] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Run directory (default runs/<algo>-<dataset>-s<seed>).")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue the run in --out from its last checkpoint.")
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            help="Start again in --out: replaces minirl's run files there (an old "
            "run, its eval.json) and writes next to any other files."
        ),
    ] = False,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "auto",
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config field: --set n_layer=4.")
    ] = None,
    eval_every: Annotated[
        int,
        typer.Option(
            help="Evaluate every N steps into metrics.jsonl (0: never).",
            callback=in_range("[0, 100_000_000]"),
        ),
    ] = 0,
    eval_episodes: Annotated[
        int | None,
        typer.Option(
            help="Episodes per periodic evaluation [default: 5].", callback=in_range("[1, 1000]")
        ),
    ] = None,
    eval_set: Annotated[
        list[str] | None,
        typer.Option(
            help="A field of the algorithm's EvalOptions for the periodic evaluation, as `minirl "
            "eval --set`: --eval-set beam_width=8 (TT). Written to config.json; --resume keeps the "
            "run's --eval-set and --eval-episodes and refuses different ones.",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    nproc: Annotated[
        int,
        typer.Option(
            help="Train in N processes as one run (torchrun, Gloo on CPU, NCCL on cuda): each "
            "samples batch_size / N, gradients are averaged, so the batch stays batch_size.",
            callback=in_range("[1, 1024]"),
        ),
    ] = 1,
    precision: Annotated[
        str, typer.Option(help="fp32, or bf16 (autocast; weights and optimizer stay fp32).")
    ] = "fp32",
):
    """Train a model on a dataset; writes runs/<name>/{config.json, checkpoint.pt, metrics.jsonl}.

    Example: minirl train dt --dataset halfcheetah-medium --steps 10000
    Example: minirl train tt --dataset halfcheetah-medium --eval-every 2000 --eval-set beam_width=8
    Example: minirl train dt --dataset halfcheetah-medium --nproc 2  (the same as: torchrun --standalone
    --nproc_per_node 2 --no-python minirl train dt --dataset halfcheetah-medium)
    """
    with user_errors():
        from minirl.train import run_training

        run_dir = out or Path("runs") / f"{algo}-{dataset.replace('/', '_')}-s{seed}"
        writable_dir(run_dir.parent)
        run_dir = run_training(
            algo,
            dataset,
            steps=steps,
            seed=seed,
            out=run_dir,
            resume=resume,
            device=device,
            budget_minutes=budget_minutes,
            overrides=parse_overrides(set_),
            progress=not quiet,
            eval_every=eval_every,
            eval_episodes=eval_episodes,
            eval_set=parse_overrides(eval_set, "--eval-set") if eval_set else None,
            overwrite=overwrite,
            nproc=nproc,
            precision=precision,
        )
        if "RANK" not in os.environ or os.environ["RANK"] == "0":  # once, under torchrun
            console.print(f"run saved in {run_dir}")


@app.command("eval")
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run directory, e.g. runs/dt-halfcheetah-medium-s0.")],
    episodes: Annotated[
        int,
        typer.Option(
            help="Episodes, run in parallel (in chunks of at most 32).",
            callback=in_range("[1, 10_000]"),
        ),
    ] = 10,
    seed: Annotated[
        int,
        typer.Option(
            help="Seed of the first episode (episode i uses seed + i).", callback=in_range(SEED)
        ),
    ] = 0,
    target_return: Annotated[
        list[str] | None, typer.Option(help="DT: target return(s), e.g. 6000,12000.")
    ] = None,
    beam_width: Annotated[
        int | None, typer.Option(help="TT: beams kept per step.", callback=in_range("[1, 1024]"))
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option(help="TT/LEAP: planning horizon in steps.", callback=in_range("[1, 1000]")),
    ] = None,
    iterations: Annotated[
        int | None,
        typer.Option(
            help="LEAP: refinement iterations per step (0: the first plan).",
            callback=in_range("[0, 10_000]"),
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or mps.")] = "cpu",
    workers: Annotated[
        int,
        typer.Option(
            help="Step the envs in N worker processes (0: in this one); same results.",
            callback=in_range("[0, 1024]"),
        ),
    ] = 0,
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="A field of the algorithm's EvalOptions: --set execution=open_loop (LEAP), "
            "--set n_expand=4 (TT).",
        ),
    ] = None,
):
    """Roll a trained run out in the real environment; writes RUN/eval.json.

    Example: minirl eval runs/dt-halfcheetah-medium-s0 --target-return 6000,12000 --episodes 10
    """
    with user_errors():
        from minirl.evaluate import evaluate_run

        targets = validate.number_list(target_return, "--target-return", "[-1e9, 1e9]")
        options = {"beam_width": beam_width, "horizon": horizon, "iterations": iterations}
        result = evaluate_run(
            run,
            episodes=episodes,
            seed=seed,
            device=device,
            progress=not quiet,
            sweep={"target_return": targets} if targets else None,
            overrides=parse_overrides(set_),
            workers=workers,
            **options,
        )
        console.print(eval_table(result, run))


def eval_table(result: dict, run: Path):
    """`minirl eval`'s table, readable at 80 columns: one row per setting; the algorithm, dataset and step in the
    title, the run folder in the caption."""
    from minirl.display import setting_text, table

    first = result["runs"][0]
    discrete = "success_rate" in first
    rows = table(
        "setting",
        "return",
        "success" if discrete else "normalized score",
        "ms/step",
        title=f"{first['algo']} on {first['dataset']} at step {first['train_step']:,}",
        caption=f"{run}; ms/step: the agent's decision time per env step",
    )
    for r in result["runs"]:
        rows.add_row(
            setting_text(r["options"]),
            f"{r['return_mean']:.1f} ± {r['return_std']:.1f}",
            f"{100 * r['success_rate']:.1f}%"
            if discrete
            else f"{r['normalized_score']:.1f} ± {r['normalized_std']:.1f}",
            f"{r['latency_ms_per_step']:.2f}",
        )
    return rows


# ---------------------------------------------------------------------------------------------- analysis etc.


@app.command()
def analyze(
    kind: Annotated[
        str,
        typer.Argument(
            help="curve, attention, attention-by-type, horizon, entropy, sparsity, rtg, "
            "error, cost, energy, all, or stitching (PointMaze)."
        ),
    ],
    runs: Annotated[list[Path], typer.Argument(help="One or more run directories.")],
    out: Annotated[Path, typer.Option(help="Folder for the PNG and JSON files.")] = Path(
        "runs/figures"
    ),
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Read episodes from the runs' datasets in this datasets "
            "folder (a held-out copy made with data collect "
            "--data-dir DIR --seed N)."
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(help="stitching: the PointMaze dataset (default: the first run's)."),
    ] = None,
    episodes: Annotated[
        int,
        typer.Option(
            help="stitching: evaluation rollouts drawn per run.", callback=in_range("[1, 20]")
        ),
    ] = 3,
):
    """Look inside trained models: attention maps, horizons, entropy, error propagation, cost, energy; on PointMaze,
    the stitching share of a dataset and the runs' rollouts drawn over the maze.

    Example: minirl analyze attention runs/dt-halfcheetah-medium-s0
    Example: minirl analyze stitching runs/iql-pointmaze-umaze-s0 runs/dt-pointmaze-umaze-s0
    """
    with user_errors():
        from minirl import analysis, data

        writable_dir(out)
        if data_dir is not None and not data_dir.is_dir():
            raise FileNotFoundError(f"--data-dir {data_dir} is not a folder")
        with data.datasets_root(data_dir):
            if kind == "stitching":  # PointMaze (issue 15): minirl/pointmaze.py
                from minirl import pointmaze

                paths = pointmaze.analyze_stitching([str(r) for r in runs], dataset, out, episodes)
            else:
                paths = analysis.run(kind, [str(r) for r in runs], out)
            for path in paths:
                console.print(f"wrote {path}")


@app.command()
def compare(
    datasets: Annotated[
        str, typer.Option(help="Comma-separated dataset names.")
    ] = "halfcheetah-medium",
    algos: Annotated[
        str, typer.Option(help="Comma-separated algorithms.")
    ] = "bc,cql,iql,dt,tt,leap",
    seeds: Annotated[
        int, typer.Option(help="Seeds per algorithm and dataset.", callback=in_range("[1, 100]"))
    ] = 3,
    first_seed: Annotated[
        int,
        typer.Option(
            help="The first seed (seeds run first-seed … first-seed+seeds-1): --seeds 1 --first-seed 2 runs seed 2 "
            "alone, e.g. one seed per core; a later call over all seeds reuses its runs.",
            callback=in_range("[0, 1_000_000]"),
        ),
    ] = 0,
    budget_minutes: Annotated[
        float | None,
        typer.Option(help="Cap on each training run, minutes.", callback=in_range("(0, 525_600]")),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            help="Gradient steps per run (default: each algorithm's).",
            callback=in_range("[1, 100_000_000]"),
        ),
    ] = None,
    episodes: Annotated[
        int, typer.Option(help="Evaluation episodes per run.", callback=in_range("[1, 10_000]"))
    ] = 10,
    out: Annotated[Path, typer.Option(help="Folder for the table (md, csv), chart.")] = Path(
        "runs/compare-table"
    ),
    runs_dir: Annotated[Path, typer.Option(help="Where the runs are kept (and reused).")] = Path(
        "runs/compare"
    ),
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override one algorithm's config field on every dataset: --set dt.lr=3e-4.",
        ),
    ] = None,
    eval_set: Annotated[
        list[str] | None,
        typer.Option(
            "--eval-set",
            help="Evaluate one algorithm with this option (as `minirl eval --set`): --eval-set tt.horizon=1.",
        ),
    ] = None,
):
    """Train (or reuse) and evaluate every algorithm on every dataset; print the blog's table.

    Example: minirl compare --datasets halfcheetah-medium,babyai-gotolocal --algos bc,dt --seeds 3
    """
    with user_errors():
        from minirl import compare as comparison

        writable_dir(out)
        comparison.run(
            [d for d in datasets.split(",") if d],
            [a for a in algos.split(",") if a],
            seeds,
            budget_minutes=budget_minutes,
            steps=steps,
            episodes=episodes,
            out=out,
            runs_dir=runs_dir,
            console=console,
            overrides=parse_algo_overrides(set_),
            eval_overrides=parse_algo_overrides(eval_set, "--eval-set"),
            first_seed=first_seed,
        )


@app.command()
def bench(
    kind: Annotated[str, typer.Argument(help="speed or quality.")],
    out: Annotated[Path, typer.Option(help="Folder for results (JSON, PNG).")] = Path("runs/bench"),
    quick: Annotated[
        bool,
        typer.Option(
            help="speed: small sizes, 3 repeats: a smoke test of the code paths, not a "
            "measurement (about 35 CPU-seconds on a 2-core sandbox)."
        ),
    ] = False,
    datasets: Annotated[str | None, typer.Option(help="quality: comma-separated datasets.")] = None,
    algos: Annotated[str | None, typer.Option(help="quality: comma-separated algorithms.")] = None,
    seeds: Annotated[
        int | None,
        typer.Option(
            help="quality: seeds per algorithm and dataset.", callback=in_range("[1, 100]")
        ),
    ] = None,
    budget_minutes: Annotated[
        float | None,
        typer.Option(help="quality: cap on each training run.", callback=in_range("(0, 525_600]")),
    ] = None,
    episodes: Annotated[
        int | None,
        typer.Option(
            help="quality: evaluation episodes per run.", callback=in_range("[1, 10_000]")
        ),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="quality: --set dt.lr=3e-4 (as compare).")
    ] = None,
):
    """Benchmarks (not tests): training/eval speed, and quality over seeds.

    Example: minirl bench speed; minirl bench quality --datasets babyai-gotolocal --algos dt,leap --seeds 3
    """
    with user_errors():
        from minirl import bench as benchmarks

        writable_dir(out)
        benchmarks.run(
            kind,
            out=out,
            quick=quick,
            console=console,
            seeds=seeds,
            budget_minutes=budget_minutes,
            datasets=datasets.split(",") if datasets else None,
            algos=algos.split(",") if algos else None,
            episodes=episodes,
            overrides=parse_algo_overrides(set_) or None,
        )


@baseline_app.command("sac")
def baseline_sac(
    env: Annotated[str, typer.Option(help="Environment (halfcheetah).")] = "halfcheetah",
    steps: Annotated[
        int | None,
        typer.Option(
            help="Env steps [default: 300000 / the resumed run's].",
            callback=in_range("[1, 100_000_000]"),
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed.", callback=in_range(SEED))] = 1,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("runs/sac-halfcheetah"),
    eval_every: Annotated[
        int, typer.Option(help="Evaluate every N env steps.", callback=in_range("[1, 100_000_000]"))
    ] = 10_000,
    resume: Annotated[
        Path | None, typer.Option(help="Continue this run folder exactly from its checkpoint.")
    ] = None,
):
    """Train SAC online (the behaviour-policy learner). Example: minirl baseline sac --env halfcheetah --steps 300000

    A run checkpoints every 10k steps; `minirl baseline sac --resume RUN` continues it (same numbers as never
    stopping). With --resume, --steps may raise the run's total; the other options come from RUN/config.json.
    """
    with user_errors():
        from minirl.baselines import sac
        from minirl.envs import get_spec

        if resume is not None:
            config = resume / "config.json"
            if not (resume / "checkpoint" / "state.pt").exists() or not config.exists():
                raise typer.BadParameter(
                    f"'{resume}' is not a SAC run with a checkpoint (no checkpoint/state.pt)"
                )
            cfg = sac.Config(**json.loads(config.read_text()))
            # an explicit --steps extends (or shortens) the run
            if steps is not None and steps != cfg.total_steps:
                if steps > cfg.buffer_size:
                    raise typer.BadParameter(
                        f"--steps {steps} exceeds the run's buffer ({cfg.buffer_size})"
                    )
                cfg.total_steps = steps
                (resume / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), indent=2))
            out = resume
        else:
            spec = get_spec(env)
            if spec.discrete:
                raise typer.BadParameter(
                    f"SAC here is for continuous control; '{env}' has discrete actions"
                )
            writable_dir(out)
            steps = 300_000 if steps is None else steps
            cfg = sac.Config(
                env_id=spec.gym_id,
                total_steps=steps,
                seed=seed,
                eval_every=eval_every,
                learning_starts=min(5_000, steps // 2),
            )
        sac.train(
            cfg,
            out,
            resume=resume is not None,
            progress=lambda row: console.print(
                f"step {row['step']:>8}  eval return {row['eval_return_mean']:9.1f} ± {row['eval_return_std']:.1f}"
            ),
        )
        console.print(f"SAC run saved in {out}")


@import_app.command("hf-dt")
def import_hf_dt(
    source: Annotated[
        str,
        typer.Argument(
            help="Folder or Hugging Face Hub id of a transformers DecisionTransformerModel."
        ),
    ],
    state_mean: Annotated[
        list[str],
        typer.Option(
            help="The state mean it was trained with (its model card): "
            "one number per state dimension, comma-separated."
        ),
    ],
    state_std: Annotated[
        list[str], typer.Option(help="The state std it was trained with, the same way.")
    ],
    out: Annotated[Path, typer.Option(help="The run folder to write.")] = Path("runs/dt-hf"),
    rtg_scale: Annotated[
        float,
        typer.Option(
            help="R̂ is divided by this before it is embedded.", callback=in_range("(0, 1e9]")
        ),
    ] = 1000.0,
    context_len: Annotated[
        int, typer.Option(help="K, steps in view when acting.", callback=in_range("[1, 1000]"))
    ] = 20,
    env: Annotated[str, typer.Option(help="Environment (halfcheetah).")] = "halfcheetah",
    dataset: Annotated[
        str | None,
        typer.Option(help="Dataset `minirl analyze` reads episodes from (default: ENV-medium)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a run already in --out.")] = False,
):
    """Convert a Hugging Face Decision Transformer checkpoint into a DT run that eval and analyze accept.

    Example: minirl import hf-dt edbeeching/decision-transformer-gym-halfcheetah-medium --out runs/dt-hf-medium
    --state-mean M1,...,M17 --state-std S1,...,S17 (from the model card; needs `pip install 'minirl\\[hf]'`)
    """
    with user_errors():
        from minirl.hf import import_decision_transformer

        run_dir = import_decision_transformer(
            source,
            out,
            validate.number_list(state_mean, "--state-mean", "[-1e9, 1e9]"),
            validate.number_list(state_std, "--state-std", "(0, 1e9]"),
            rtg_scale=rtg_scale,
            env=env,
            dataset=dataset,
            context_len=context_len,
            overwrite=overwrite,
        )
        console.print(f"run saved in {run_dir}; evaluate it with: minirl eval {run_dir}")


@app.command()
def lessons():
    """The course: each lesson and whether your exercise passes its grader. Example: minirl lessons"""
    with user_errors():
        from minirl import course

        course.print_status(console)


if __name__ == "__main__":
    app()
