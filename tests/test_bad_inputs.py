"""Bad input, as a careless or hostile user would type it, through the real CLI: every case exits non-zero with one
line that names the option or file, no traceback, and leaves every file that was there (in the working folder, the
datasets store and a sibling folder) byte-identical. Then the behaviours behind the refusals: nothing outside the
store is ever removed, a planted checkpoint runs no code, runs and datasets are replaced without losing anything
that is not minirl's own."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from minirl import compare, data, evaluate, runs, train

runner = CliRunner()
DATASET = "babyai-gotoredball"
NAN_DATASET = "babyai-gotolocal"  # written with a NaN reward in episode 1


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A datasets store, a sibling folder of precious files next to it, and a working folder holding two tiny
    trained runs (BC, LEAP) and folders a user might point minirl at by mistake."""
    root = tmp_path_factory.mktemp("bad-inputs")
    store, victim, work = root / "store", root / "victim", root / "work"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(store))
        data.collect(DATASET, episodes=10, seed=0, progress=False)
        # also writes the cache, so later loads change nothing on disk
        episodes = data.load(DATASET)
        episodes[1]["rewards"][0] = np.nan
        data._write(
            NAN_DATASET, episodes, None, "test", "a NaN reward in episode 1", {}, overwrite=False
        )
        for algo in ("bc", "leap"):
            train.run_training(algo, DATASET, steps=2, out=work / "runs" / algo, progress=False)
    victim.mkdir()
    (victim / "precious.txt").write_text("do not delete")
    fake = victim / "fake-v0" / "data"  # looks like a Minari dataset, but lies outside the store
    fake.mkdir(parents=True)
    (fake / "metadata.json").write_text(json.dumps({"dataset_id": "ext/fake-v0"}))
    (store / "ext").symlink_to(victim)
    (store / "minirl" / "evil-v0").symlink_to(victim)
    (store / "minirl" / "notadataset-v0").mkdir()
    (store / "minirl" / "notadataset-v0" / "file.txt").write_text("not a dataset")
    (work / "notes.txt").write_text("my notes")
    (work / "foreign").mkdir()
    (work / "foreign" / "config.json").write_text('{"mine": true}')
    (work / "foreign" / "data.csv").write_text("a,b\n1,2\n")
    (work / "corrupt").mkdir()
    (work / "corrupt" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    shutil.copytree(work / "runs" / "bc", work / "damaged")
    lines = (work / "damaged" / "metrics.jsonl").read_text().splitlines()
    (work / "damaged" / "metrics.jsonl").write_text("{not json\n" + "\n".join(lines) + "\n")
    return {"root": root, "store": store, "victim": victim, "work": work}


def snapshot(root: Path) -> dict:
    """Every file and link under root -> its bytes (a link -> where it points)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            out[path] = ("link", os.readlink(path))
        elif path.is_file():
            out[path] = path.read_bytes()
    return out


def invoke(world, monkeypatch, args):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(world["store"]))
    monkeypatch.chdir(world["work"])
    return runner.invoke(app, [a.format(**world) for a in args])


# each case must fail before training starts
T = ["train", "dt", "--dataset", DATASET, "--out", "new-run"]
E = ["eval", "runs/bc", "--episodes", "1"]
CORPUS = [
    # numbers that are not numbers, or out of range: the option is named
    (["train", "dt", "--seed", "-1"], "--seed"),
    (["train", "dt", "--seed", "2**70"], "--seed"),
    (["train", "dt", "--seed", str(2**70)], "--seed"),
    (["train", "dt", "--seed", "abc"], "--seed"),
    (["train", "dt", "--steps", "1.5"], "--steps"),
    (["train", "dt", "--steps", "0"], "--steps"),
    (["train", "dt", "--steps", "10**9"], "--steps"),
    (["train", "dt", "--budget-minutes", "nan"], "--budget-minutes"),
    (["train", "dt", "--budget-minutes", "inf"], "--budget-minutes"),
    (["train", "dt", "--budget-minutes", "-1"], "--budget-minutes"),
    (["train", "dt", "--budget-minutes", "soon"], "--budget-minutes"),
    (["train", "dt", "--eval-every", "-5"], "--eval-every"),
    (["train", "dt", "--eval-episodes", "x"], "--eval-episodes"),
    (["train", "dt", "--bogus-option"], "--bogus-option"),
    (["train"], "'algo'"),
    # --set fields: type, range and choices from the algorithm's Config
    (T + ["--set", "lr=abc"], "--set lr=abc"),
    (T + ["--set", "lr=nan"], "--set lr=nan"),
    (T + ["--set", "lr=-1"], "--set lr=-1"),
    (T + ["--set", "n_layer=2.5"], "--set n_layer=2.5"),
    (T + ["--set", "n_layer=-1"], "--set n_layer=-1"),
    (T + ["--set", "batch_size=2.5"], "--set batch_size=2.5"),
    (T + ["--set", "batch_size=10000000"], "--set batch_size=10000000"),
    (T + ["--set", "lr_schedule=bogus"], "--set lr_schedule=bogus"),
    (T + ["--set", "steps=1.5"], "--set steps=1.5"),
    (T + ["--steps", "2", "--set", "steps=1.5"], "--set steps=1.5"),
    (T + ["--set", "dropout=1"], "--set dropout=1"),
    (T + ["--set", "dropout=inf"], "--set dropout=inf"),
    (T + ["--set", "no_such_field=1"], "--set no_such_field"),
    (T + ["--set", "lr"], "--set"),
    (T + ["--set", "=3"], "--set"),
    (
        ["train", "leap", "--dataset", DATASET, "--out", "new-run", "--set", "resample=best"],
        "--set resample=best",
    ),
    (
        ["train", "tt", "--dataset", DATASET, "--out", "new-run", "--set", "discretizer=log"],
        "discretizer=log",
    ),
    (
        ["train", "iql", "--dataset", DATASET, "--out", "new-run", "--set", "expectile=1"],
        "--set expectile=1",
    ),
    # sizes that pass their range but cannot fit in memory: one line saying why
    (T + ["--set", "batch_size=65536", "--set", "d_model=1024"], "batch_size 65536 needs"),
    (
        [
            "train",
            "bc",
            "--dataset",
            DATASET,
            "--out",
            "new-run",
            "--set",
            "hidden=65536",
            "--set",
            "n_hidden=64",
        ],
        "billion parameters",
    ),
    # run folders that are not runs, or damaged
    (["train", "bc", "--dataset", DATASET, "--steps", "2", "--out", "foreign"], "foreign"),
    (["train", "bc", "--dataset", DATASET, "--steps", "2", "--out", "notes.txt"], "notes.txt"),
    (["train", "bc", "--dataset", DATASET, "--steps", "2", "--out", "runs/bc"], "runs/bc"),
    (
        ["train", "bc", "--dataset", DATASET, "--steps", "4", "--out", "damaged", "--resume"],
        "metrics.jsonl line 1",
    ),
    (
        ["train", "bc", "--dataset", DATASET, "--out", "runs/bc", "--resume", "--overwrite"],
        "not both",
    ),
    (
        ["train", "bc", "--dataset", DATASET, "--steps", "2", "--out", "new-run", "--resume"],
        "new-run",
    ),
    (
        ["train", "bc", "--dataset", NAN_DATASET, "--steps", "2", "--out", "new-run"],
        f"dataset '{NAN_DATASET}' episode 1: rewards",
    ),
    (["train", "dt", "--dataset", NAN_DATASET, "--steps", "2", "--out", "new-run"], "episode 1"),
    (["eval", "corrupt"], "corrupt/checkpoint.pt"),
    (["eval", "foreign"], "foreign"),
    (["eval", "nowhere"], "nowhere"),
    # eval options
    (E[:2] + ["--episodes", "0"], "--episodes"),
    (E[:2] + ["--episodes", "1000000"], "--episodes"),
    (E[:2] + ["--episodes", "many"], "--episodes"),
    (E + ["--seed", "-1"], "--seed"),
    (E + ["--beam-width", "0"], "--beam-width"),
    (E + ["--beam-width", "100000"], "--beam-width"),
    (E + ["--horizon", "0"], "--horizon"),
    (E + ["--iterations", "-1"], "--iterations"),
    (E + ["--iterations", "ten"], "--iterations"),
    (E + ["--target-return", "nan"], "--target-return"),
    (E + ["--target-return", "inf"], "--target-return"),
    (E + ["--target-return", ",,"], "--target-return"),
    (E + ["--target-return", "1,x"], "--target-return"),
    (E + ["--beam-width", "4"], "beam_width"),  # BC has no beam
    (E + ["--set", "beam_width=4"], "no --set"),  # BC's EvalOptions are empty
    (["eval", "runs/leap", "--episodes", "1", "--set", "iterations=-1"], "--set iterations=-1"),
    # data
    (["data", "collect", DATASET, "--episodes", "abc"], "--episodes"),
    (["data", "collect", DATASET, "--episodes", "0"], "--episodes"),
    (["data", "collect", DATASET, "--noise", "2"], "--noise"),
    (["data", "collect", DATASET, "--noise", "nan"], "--noise"),
    (["data", "collect", DATASET, "--seed", "-1"], "--seed"),
    (["data", "collect", DATASET, "--episodes", "2"], DATASET),  # exists, no --overwrite
    (["data", "remove", "../victim"], "../victim"),
    (["data", "remove", "{victim}"], "victim"),
    (["data", "remove", "."], "'.'"),
    (["data", "remove", ".."], "'..'"),
    (["data", "remove", "/"], "'/'"),
    (["data", "remove", "./"], "'./'"),
    (["data", "remove", "minirl/"], "'minirl/'"),
    (["data", "remove", "minirl"], "'minirl'"),
    (["data", "remove", ""], "''"),
    (["data", "remove", "minirl/../minirl/babyai-gotoredball-v0"], "minirl/../minirl"),
    (["data", "remove", "minirl/babyai-gotoredball-v0/.."], "babyai-gotoredball-v0/.."),
    (["data", "remove", "minirl/evil-v0"], "symbolic link"),
    (["data", "remove", "ext/fake-v0"], "symbolic link"),
    (["data", "remove", "minirl/notadataset-v0"], "notadataset-v0"),
    (["data", "remove", "babyai-nosuchlevel"], "babyai-nosuchlevel"),
    (["data", "remove", "babyai-gotoobj"], "babyai-gotoobj"),  # a valid name, never collected
    (["data", "info", NAN_DATASET], "episode 1"),
    # compare, bench, baseline
    (["compare", "--seeds", "0"], "--seeds"),
    (["compare", "--seeds", "three"], "--seeds"),
    (["compare", "--episodes", "0"], "--episodes"),
    (["compare", "--first-seed", "-1"], "--first-seed"),
    (["compare", "--budget-minutes", "nan"], "--budget-minutes"),
    (["compare", "--datasets", DATASET, "--algos", "dt", "--set", "dt.lr=abc"], "--set dt.lr=abc"),
    (
        ["compare", "--datasets", DATASET, "--algos", "dt", "--set", "dt.n_layer=0"],
        "--set dt.n_layer=0",
    ),
    (["compare", "--datasets", DATASET, "--algos", "dt", "--set", "lr=3"], "--set"),
    (["bench", "quality", "--seeds", "0"], "--seeds"),
    (["baseline", "sac", "--seed", "-1"], "--seed"),
    (["baseline", "sac", "--steps", "0"], "--steps"),
    (["baseline", "sac", "--eval-every", "x"], "--eval-every"),
]


@pytest.mark.parametrize("args, expected", CORPUS, ids=[" ".join(a[:6]) for a, _ in CORPUS])
def test_bad_input_fails_in_one_line_and_changes_nothing(world, monkeypatch, args, expected):
    before = snapshot(world["root"])
    result = invoke(world, monkeypatch, args)
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and expected in lines[0], lines[0]
    after = snapshot(world["root"])
    changed = [str(p) for p, content in before.items() if after.get(p) != content]
    assert not changed, changed


def test_the_corpus_is_large():
    assert len(CORPUS) >= 80


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train", "dt", "--seed", "abc"], "'--seed'"),
        (["data", "remove", "../victim"], "../victim"),
    ],
)
def test_a_real_process_prints_one_line_on_stderr(world, args, expected):
    env = dict(os.environ, MINARI_DATASETS_PATH=str(world["store"]), OMP_NUM_THREADS="1")
    cli = Path(__file__).parents[1] / "cli.py"
    done = subprocess.run(
        [sys.executable, str(cli), *args],
        cwd=world["work"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and expected in done.stderr, done.stderr


# ---------------------------------------------------------------------------------------------- what is behind


def test_a_planted_checkpoint_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    run = tmp_path / "shared-run"
    run.mkdir()
    torch.save(
        {"version": runs.CHECKPOINT_VERSION, "model": {}, "algo": "bc", "payload": Payload()},
        run / "checkpoint.pt",
    )
    result = runner.invoke(app, ["eval", str(run)])
    assert result.exit_code == 1
    assert "holds Python objects (posix.system)" in result.output and "refused" in result.output
    assert not marker.exists()


def test_checkpoints_hold_only_tensors_and_plain_values(world):
    state = torch.load(world["work"] / "runs" / "bc" / "checkpoint.pt", weights_only=True)
    assert state["algo"] == "bc"
    with pytest.raises(TypeError, match="only tensors and plain values"):
        runs.atomic_save({"model": {}, "extra": {1, 2}}, world["root"] / "never.pt")
    assert not (world["root"] / "never.pt").exists()


def test_remove_deletes_exactly_the_dataset_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "store"))
    data.collect(DATASET, episodes=2, progress=False)
    (tmp_path / "store" / "keep.txt").write_text("keep")
    result = runner.invoke(app, ["data", "remove", DATASET])
    assert result.exit_code == 0, result.output
    assert not data.dataset_path(DATASET).exists()
    assert (tmp_path / "store" / "keep.txt").read_text() == "keep"
    assert (tmp_path / "store" / "minirl" / "namespace_metadata.json").exists()


def test_a_killed_collect_leaves_staging_that_the_next_collect_removes(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f"{data.STAGING_PREFIX}{dead.stdout.strip()}-abc123"
    # a collect still running elsewhere
    live = tmp_path / f"{data.STAGING_PREFIX}{os.getppid()}-def456"
    for folder in (stale, live):
        (folder / "minirl").mkdir(parents=True)
        (folder / "minirl" / "half.hdf5").write_bytes(b"\0" * 100)
    data.collect(DATASET, episodes=2, progress=False)
    assert not stale.exists() and live.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == [live.name]


@pytest.mark.skipif(sys.platform != "linux", reason="RENAME_EXCHANGE is Linux's")
def test_overwrite_swaps_in_one_step_so_the_old_dataset_is_never_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    data.collect(DATASET, episodes=2, seed=0, progress=False)
    old = data.load(DATASET)
    real_replace = os.replace

    def replace(src, dst):  # the only rename of the final folder allowed is the atomic exchange
        assert Path(dst) != data.dataset_path(DATASET) and Path(src) != data.dataset_path(
            DATASET
        ), (src, dst)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    data.collect(DATASET, episodes=3, seed=1, progress=False, overwrite=True)
    monkeypatch.setattr(os, "replace", real_replace)
    assert len(data.load(DATASET)) == 3 and len(old) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(data.STAGING_PREFIX)]


def test_swap_exchanges_two_folders(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("new")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("old")
    data._swap(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b" / "x").read_text() == "new" and (
        tmp_path / "a" / "x"
    ).read_text() == "old"


def test_non_finite_observations_are_rejected_at_load_naming_dataset_episode_and_step(
    world, monkeypatch
):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(world["store"]))
    episodes = [
        {
            "observations": np.zeros((4, 3), np.float32),
            "actions": np.zeros((3, 2), np.float32),
            "rewards": np.zeros(3, np.float32),
        }
        for _ in range(3)
    ]
    episodes[2]["observations"][3, 1] = np.inf
    with pytest.raises(
        data.NonFiniteDataError, match=r"dataset 'x' episode 2: observations at step 3"
    ):
        data._check_finite("x", episodes)
    with pytest.raises(data.NonFiniteDataError, match="episode 1: rewards at step 0"):
        data.load(NAN_DATASET)


def test_train_overwrite_replaces_only_minirl_files(world, monkeypatch, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(world["work"] / "foreign", folder)
    (folder / "eval.json").write_text("{}")  # a stale evaluation of another run
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(world["store"]))
    result = runner.invoke(
        app,
        [
            "train",
            "bc",
            "--dataset",
            DATASET,
            "--steps",
            "2",
            "--out",
            str(folder),
            "--overwrite",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (folder / "data.csv").read_text() == "a,b\n1,2\n"
    # --overwrite: the user said so
    assert json.loads((folder / "config.json").read_text())["algo"] == "bc"
    assert not (folder / "eval.json").exists() and (folder / "checkpoint.pt").exists()


def test_resume_tolerates_a_torn_last_metrics_line(world, monkeypatch, tmp_path):
    run = tmp_path / "torn"
    shutil.copytree(world["work"] / "runs" / "bc", run)
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 3, "lo')  # killed while writing
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(world["store"]))
    result = runner.invoke(
        app,
        [
            "train",
            "bc",
            "--dataset",
            DATASET,
            "--steps",
            "4",
            "--out",
            str(run),
            "--resume",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]


def test_compare_retrains_a_stale_run_without_deleting_foreign_files(world, monkeypatch, tmp_path):
    run = tmp_path / "stale"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(b"from an older version")
    (run / "eval.json").write_text("{}")
    (run / "my-notes.md").write_text("keep me")
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(world["store"]))
    how = compare.train_or_reuse("bc", DATASET, 0, run, 2, None, "cpu", False)
    assert how == "retrained (stale checkpoint)"
    assert (run / "my-notes.md").read_text() == "keep me"
    assert not (run / "eval.json").exists() and runs.load_checkpoint(run)["finished"]


def test_leap_evaluates_with_zero_refinements(world, monkeypatch):
    result = invoke(
        world, monkeypatch, ["eval", "runs/leap", "--iterations", "0", "--episodes", "1", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    eval_json = json.loads((world["work"] / "runs" / "leap" / "eval.json").read_text())
    assert eval_json["runs"][0]["options"]["iterations"] == 0
    (world["work"] / "runs" / "leap" / "eval.json").unlink()


def test_evaluation_in_chunks_gives_each_episode_its_own_seed(world, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(world["store"]))
    module, _, tok, model, state = runs.load_run(world["work"] / "runs" / "bc")
    whole = evaluate.rollout(module, model, tok, state["env"], episodes=5, seed=3, progress=False)
    monkeypatch.setattr(evaluate, "EVAL_CHUNK", 2)
    assert evaluate.chunk_size(5, {}) == 2
    chunked = evaluate.rollout(module, model, tok, state["env"], episodes=5, seed=3, progress=False)
    assert chunked["returns"] == whole["returns"] and chunked["lengths"] == whole["lengths"]


def test_a_wide_beam_evaluates_fewer_episodes_at_once():
    assert evaluate.chunk_size(1000, {"beam_width": 1024, "n_expand": 2}) == 2
    assert evaluate.chunk_size(1000, {"beam_width": 32, "n_expand": 2}) == evaluate.EVAL_CHUNK
    assert evaluate.chunk_size(3, {}) == 3
