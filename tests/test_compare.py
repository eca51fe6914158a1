"""`minirl compare` on a tiny configuration: the table, CSV and bar chart, reuse of finished runs, new runs when the
config changes, and one-line errors for algorithms that cannot be imported."""

import csv
import io
import json

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cli import app
from minirl import compare as comparison
from minirl import data, runs
from minirl.runs import load_run

runner = CliRunner()
ARGS = [
    "compare",
    "--datasets",
    "babyai-gotoredball",
    "--algos",
    "bc,iql",
    "--seeds",
    "1",
    "--episodes",
    "2",
]


def compare(tmp_path, *extra, steps: int = 10):
    result = runner.invoke(
        app,
        ARGS
        + [
            "--steps",
            str(steps),
            "--out",
            str(tmp_path / "out"),
            "--runs-dir",
            str(tmp_path / "runs"),
            *extra,
        ],
    )
    assert "Traceback" not in result.output
    return result


def _rendered(table) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table)
    return console.export_text()


def stamps(runs):
    """Modification times of each run's checkpoint and eval.json."""
    return {
        r: ((r / "checkpoint.pt").stat().st_mtime_ns, (r / "eval.json").stat().st_mtime_ns)
        for r in runs
    }


@pytest.fixture(scope="module")
def first_call(tmp_path_factory):
    """50 bot demonstrations of GoToRedBall in a private Minari folder, and one `minirl compare` over bc and iql."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("compare-minari")))
        data.collect("babyai-gotoredball", episodes=50, seed=0, progress=False)
        tmp_path = tmp_path_factory.mktemp("compare")
        result = compare(tmp_path)
        runs = sorted((tmp_path / "runs").iterdir())
        yield tmp_path, result, runs, stamps(runs)


def test_compare_prints_and_writes_table_csv_and_chart(first_call):
    tmp_path, result, runs, _ = first_call
    assert result.exit_code == 0, result.output
    assert "BC" in result.output and "IQL" in result.output and "success %" in result.output
    # the papers' HalfCheetah table is not printed under a BabyAI-only comparison
    assert "NOT ours" not in result.output
    papers = _rendered(
        comparison.paper_table(["iql"])
    )  # under a HalfCheetah one, labelled as theirs
    assert "NOT ours" in papers and "47.4" in papers
    out = tmp_path / "out"
    rows = list(csv.DictReader(open(out / "compare.csv")))
    assert [(r["algo"], r["dataset"], r["seeds"]) for r in rows] == [
        ("bc", "babyai-gotoredball", "1"),
        ("iql", "babyai-gotoredball", "1"),
    ]
    assert all(0.0 <= float(r["mean"]) <= 100.0 for r in rows)
    assert (out / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| BC | Imitation |" in (out / "compare.md").read_text()
    assert [r.name.rsplit("-", 1)[0] for r in runs] == [
        "bc-babyai-gotoredball-s0",
        "iql-babyai-gotoredball-s0",
    ]


def test_second_call_reuses_runs_and_evaluations(first_call):
    tmp_path, _, runs, before = first_call
    table = (tmp_path / "out" / "compare.csv").read_text()
    result = compare(tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.count("reused, eval reused") == 2
    assert stamps(runs) == before  # no training, no evaluation: the files were not rewritten
    assert (tmp_path / "out" / "compare.csv").read_text() == table


def test_changing_the_steps_trains_new_runs(first_call):
    tmp_path, _, runs, before = first_call
    result = compare(tmp_path, steps=11)
    assert result.exit_code == 0, result.output
    assert result.output.count(": trained, ") == 2
    assert len(list((tmp_path / "runs").iterdir())) == 4  # 10 and 11 steps: different content keys
    assert stamps(runs) == before


def test_unimportable_algorithm_gives_one_line_and_the_rest_still_run(first_call, monkeypatch):
    tmp_path = first_call[0]
    monkeypatch.setitem(runs.ALGOS, "ghost", "minirl.ghost_not_written_yet")
    result = compare(tmp_path, "--algos", "ghost,bc")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "ghost" in line]
    assert len(lines) == 1 and lines[0].startswith("error: ghost cannot be imported")

    only_ghost = compare(tmp_path, "--algos", "ghost")
    assert only_ghost.exit_code == 1
    assert only_ghost.output.strip().splitlines()[-1].startswith("error: none of ghost can be run")


@pytest.mark.parametrize("flag,value", [("--algos", "bc,nope"), ("--datasets", "babyai-nope")])
def test_unknown_algorithm_or_dataset_is_a_one_line_error(first_call, flag, value):
    result = compare(first_call[0], flag, value)
    assert result.exit_code == 1
    assert result.output.strip().startswith("error: unknown")


def test_set_overrides_one_algorithms_config_and_keys_new_runs(first_call):
    tmp_path = first_call[0]
    before = set((tmp_path / "runs").iterdir())
    result = compare(tmp_path, "--set", "bc.lr=0.002")
    assert result.exit_code == 0, result.output
    # iql kept
    assert (
        result.output.count(": trained, ") == 1 and result.output.count("reused, eval reused") == 1
    )
    new = sorted(set((tmp_path / "runs").iterdir()) - before)
    assert [r.name.rsplit("-", 1)[0] for r in new] == ["bc-babyai-gotoredball-s0"]
    assert [runs.load_checkpoint(r)["config"]["lr"] for r in new] == [0.002]
    assert "lr=0.002" in (tmp_path / "out" / "compare.md").read_text()


@pytest.mark.parametrize("value", ["lr=0.002", "bc.lr", "dt.lr=0.002"])
def test_bad_set_is_a_one_line_error(first_call, value):
    result = compare(first_call[0], "--set", value)
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_a_run_the_current_code_cannot_load_is_trained_again(first_call):
    """A checkpoint from an older version of a model (its weights no longer fit) is not reused, nor its eval.json."""
    import torch

    tmp_path, _, runs, _ = first_call
    bc_run = runs[0]
    state = torch.load(bc_run / "checkpoint.pt", weights_only=False)
    # an older layout
    state["model"] = {k: v for k, v in state["model"].items() if not k.endswith("bias")}
    torch.save(state, bc_run / "checkpoint.pt")
    result = compare(tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.count("retrained (stale checkpoint), evaluated") == 1
    assert result.output.count("reused, eval reused") == 1  # iql untouched
    load_run(bc_run)  # loads again


def test_eval_set_evaluates_with_the_option_and_reuses_the_training(first_call):
    """--eval-set dt.target_return=5 replaces DT's default sweep by that one target: the runs trained for it are
    reused when only the evaluation option changes, and the evaluation is made again (and then reused)."""
    tmp_path = first_call[0]
    args = ("--algos", "bc,dt", "--set", "dt.context_len=2")
    first = compare(tmp_path, *args)
    assert first.exit_code == 0, first.output
    result = compare(tmp_path, *args, "--eval-set", "dt.target_return=5")
    assert result.exit_code == 0, result.output
    assert result.output.count("reused, eval reused") == 1  # bc
    assert (
        result.output.count("reused, evaluated") == 1
    )  # dt: trained once, evaluated at the new target
    [dt_run] = [
        r
        for r in (tmp_path / "runs").iterdir()
        if r.name.startswith("dt-") and runs.load_checkpoint(r)["config"]["context_len"] == 2
    ]
    evaluations = json.loads((dt_run / "eval.json").read_text())["runs"]
    assert [e["options"]["target_return"] for e in evaluations] == [5.0]
    again = compare(tmp_path, *args, "--eval-set", "dt.target_return=5")
    assert again.output.count("reused, eval reused") == 2


@pytest.mark.parametrize(
    "value", ["target_return=5", "dt.nope=1", "dt.target_return=x", "bc.anything=1"]
)
def test_bad_eval_set_is_a_one_line_error(first_call, value):
    result = compare(first_call[0], "--algos", "bc,dt", "--eval-set", value)
    assert result.exit_code != 0
    assert "Traceback" not in result.output and result.output.strip().count("\n") == 0, (
        result.output
    )


def test_first_seed_runs_one_seed_that_a_call_over_all_seeds_reuses(first_call):
    tmp_path = first_call[0]
    before = set((tmp_path / "runs").iterdir())
    alone = compare(tmp_path, "--seeds", "1", "--first-seed", "1")
    assert alone.exit_code == 0, alone.output
    assert alone.output.count(": trained, ") == 2
    new = sorted(set((tmp_path / "runs").iterdir()) - before)
    assert [r.name.rsplit("-", 1)[0] for r in new] == [
        "bc-babyai-gotoredball-s1",
        "iql-babyai-gotoredball-s1",
    ]
    assert [runs.load_checkpoint(r)["seed"] for r in new] == [1, 1]
    # seeds 0 and 1 together: the seed-0 runs of the first call and the seed-1 runs above, none trained again
    both = compare(tmp_path, "--seeds", "2")
    assert both.exit_code == 0, both.output
    assert both.output.count("reused, eval reused") == 4
    rows = list(csv.DictReader(open(tmp_path / "out" / "compare.csv")))
    assert [r["seeds"] for r in rows] == ["2", "2"]
