"""What a user sees (minirl/display.py, the tables of cli.py, compare.py and bench.py): bars whose totals are the
step a run really stops at, closing lines that say what ended it, and tables that fit an 80-column terminal.

The budget is made exact with an injected clock: each batch drawn advances it by one second, so a 0.1-minute
(6-second) budget ends the run after exactly 6 steps whatever the machine's speed.
"""

import io
from pathlib import Path

import pytest
import torch
from rich.console import Console
from rich.text import Text
from typer.testing import CliRunner

from cli import app
from minirl import data
from minirl.baselines import bc
from minirl.display import REFRESH_SECONDS, TrainBar, closing_line, duration
from minirl.envs import get_spec
from minirl.train import fit, make_config

DATASET = "babyai-gotolocal"
TINY_BC = {"hidden": 16, "n_hidden": 1, "batch_size": 8}


@pytest.fixture(scope="module", autouse=True)
def tiny_dataset(tmp_path_factory):
    """20 BabyAI bot demonstrations in this module's own Minari folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("display_minari")))
        data.collect(DATASET, episodes=20, seed=0, progress=False)
        yield


class Clock:
    """A clock that moves only when told to."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------------------------------- the training bar


def test_duration_is_written_in_minutes_and_seconds():
    assert duration(7.25) == "7.2 s"
    assert duration(42) == "42 s"
    assert duration(4 * 60 + 12) == "4 min 12 s"
    assert duration(3600 + 5 * 60) == "1 h 05 min"


def test_bar_total_is_the_budget_step_when_the_budget_ends_first():
    clock = Clock()
    # 1000 steps, a 60-second budget; 10 steps in the first 10 s -> 1 step/s -> 50 more steps in the 50 s left
    bar = TrainBar("train bc", 1000, 8, deadline=clock() + 60, clock=clock, enabled=False)
    for step in range(1, 11):
        clock.now += 1.0
        bar.update(step, 0.5)
    task = bar.bar.tasks[0]
    assert (task.completed, task.total) == (10, 60)
    assert task.fields["count"] == "10/~60"
    assert bar.seconds_left(10) == pytest.approx(50.0)


def test_bar_total_is_the_step_count_when_the_steps_end_first():
    clock = Clock()
    # 100 steps at 1 step/s end after 100 s, before the 600-second budget
    bar = TrainBar("train bc", 100, 8, deadline=clock() + 600, clock=clock, enabled=False)
    for step in range(1, 11):
        clock.now += 1.0
        bar.update(step, 0.5)
    task = bar.bar.tasks[0]
    assert (task.completed, task.total) == (10, 100)
    assert task.fields["count"] == "10/100"
    assert bar.seconds_left(10) == pytest.approx(90.0)
    # 8 samples per step, 1 step/s
    assert task.fields["sps"] == "8"


def test_bar_shows_the_loss_at_the_first_step_and_refreshes_by_time():
    clock = Clock()
    bar = TrainBar("train bc", 10_000, 8, clock=clock, enabled=False)
    clock.now += 0.1
    bar.update(1, 2.0)
    task = bar.bar.tasks[0]
    assert (task.completed, task.fields["loss"]) == (1, "2.0000")
    # steps 2..4 come within REFRESH_SECONDS of step 1: the bar waits; step 5 is later: the mean of steps 2..5
    for step, loss in zip(range(2, 6), (1.0, 2.0, 3.0, 6.0)):
        clock.now += REFRESH_SECONDS / 3
        bar.update(step, loss)
    assert (task.completed, task.fields["loss"]) == (5, "3.0000")


def train_tiny(tmp_path, steps, budget_minutes=None, clock=None):
    """Fits a tiny BC on the dataset with the bar on; with a clock, each batch drawn takes one clock second."""
    episodes = data.load(DATASET)
    cfg = make_config(bc, dict(TINY_BC, steps=steps), DATASET)
    tok = bc.make_tokenizer(episodes, get_spec(DATASET), cfg)
    prepared = bc.prepare(episodes, tok, cfg)
    torch.manual_seed(0)

    def sample(rng):
        if clock is not None:
            clock.now += 1.0
        return bc.sample_batch(prepared, cfg, rng)

    extra = {} if clock is None else {"clock": clock}
    return fit(
        bc.Model(cfg, tok),
        sample,
        cfg,
        tmp_path,
        {"algo": "bc"},
        budget_minutes=budget_minutes,
        progress=True,
        **extra,
    )


def test_a_budget_stopped_run_says_so_with_its_step_and_checkpoint(tmp_path, capsys):
    row = train_tiny(tmp_path, steps=100, budget_minutes=0.1, clock=Clock())
    out = capsys.readouterr().out
    assert row["step"] == 6
    assert (
        f"stopped by the 0.1-minute budget at step 6 of 100 after 6.0 s; checkpoint "
        f"{tmp_path / 'checkpoint.pt'}" in out
    )
    assert "6/~6" in out  # the bar's last state: the budget's step, not 100


def test_a_step_stopped_run_says_it_finished(tmp_path, capsys):
    row = train_tiny(tmp_path, steps=7, budget_minutes=5, clock=Clock())
    out = capsys.readouterr().out
    assert row["step"] == 7
    assert f"finished 7 steps in 7.0 s; checkpoint {tmp_path / 'checkpoint.pt'}" in out
    assert "stopped by" not in out


def test_train_command_prints_the_closing_line(tmp_path):
    result = CliRunner().invoke(
        app,
        ["train", "bc", "--dataset", DATASET, "--steps", "3", "--out", str(tmp_path / "run")]
        + [arg for k, v in TINY_BC.items() for arg in ("--set", f"{k}={v}")],
    )
    assert result.exit_code == 0, result.output
    assert "finished 3 steps in " in result.output
    assert f"checkpoint {tmp_path / 'run' / 'checkpoint.pt'}" in result.output


def test_closing_line_of_a_resumed_run_names_where_it_resumed():
    line = closing_line(2375, 3000, 300.0, "runs/x/checkpoint.pt", 5, start_step=1000)
    assert line == (
        "stopped by the 5-minute budget at step 2,375 of 3,000 (resumed at step 1,000) after 5 min 0 s; "
        "checkpoint runs/x/checkpoint.pt (continue with --resume)"
    )


# ---------------------------------------------------------------------------------------------- 80-column tables


def assert_fits_80(render) -> str:
    """Renders on an 80-column console; every line fits and no cell was cut to `…`. Returns the text."""
    console = Console(width=80, record=True, file=io.StringIO())
    render(console)
    text = console.export_text()
    for line in text.splitlines():
        assert len(line) <= 80, line
        assert "…" not in line, line
    return text


def halfcheetah_result(target_return):
    return {
        "algo": "dt",
        "dataset": "halfcheetah-medium-replay",
        "train_step": 100_000,
        "options": {"target_return": target_return, "context_len": 20},
        "return_mean": 12345.6,
        "return_std": 1234.5,
        "normalized_score": 101.2,
        "normalized_std": 10.3,
        "latency_ms_per_step": 123.45,
    }


def test_eval_table_fits_80_columns_and_shows_no_none_setting():
    from cli import eval_table

    run = Path("runs/dt-halfcheetah-medium-replay-s0")
    halfcheetah = {"runs": [halfcheetah_result(6000.0), halfcheetah_result(12000.0)]}
    text = assert_fits_80(lambda c: c.print(eval_table(halfcheetah, run)))
    assert "halfcheetah-medium-replay" in text.replace("\n", "")
    babyai = {
        "runs": [
            {
                "algo": "dt",
                "dataset": "babyai-gotolocal",
                "train_step": 2000,
                "options": {"target_return": None},
                "return_mean": 0.8,
                "return_std": 0.1,
                "success_rate": 0.9,
                "latency_ms_per_step": 2.0,
            }
        ]
    }
    text = assert_fits_80(
        lambda c: c.print(eval_table(babyai, Path("runs/dt-babyai-gotolocal-s0")))
    )
    assert "None" not in text and "90.0%" in text


def test_compare_tables_fit_80_columns_for_three_datasets():
    from minirl import compare

    datasets = ["halfcheetah-medium", "halfcheetah-medium-replay", "babyai-gotolocal"]
    algos = ["bc", "cql", "iql", "dt", "tt", "leap"]
    rows = [
        {"algo": a, "dataset": d, "score": 12.3 + i, "seed": s}
        for i, a in enumerate(algos)
        for d in datasets
        for s in range(3)
    ]
    summary = compare.summarize(rows, algos, datasets)
    text = assert_fits_80(
        lambda c: (
            c.print(compare.results_table(summary, algos, datasets, 3, 10, width=80)),
            c.print(compare.paper_table(algos)),
        )
    )
    assert "halfcheetah-medium-replay" in text and "not reported" in text


def test_bench_speed_table_fits_80_columns_and_keeps_the_install_hint():
    from minirl import bench

    result = {
        "matmul_peak_flops": 75e9,
        "dt_train": {"samples_per_s": 20, "seconds_per_step": 3.2, "fraction_of_matmul_peak": 0.06},
        "hf_dt_train": None,
        "dt_act": [{"n_envs": 10, "env_steps_per_s": 32}],
        "tt_plan": {"rows": [{"label": "cached K=16", "ms_per_step": 1325.8}]},
        "tt_plan_floor": [
            {
                "n_envs": 10,
                "beam_width": 128,
                "horizon": 5,
                "seconds": 12.34,
                "floor_s": 3.21,
                "flops": 190e9,
                "ratio": 3.8,
            }
        ],
    }
    text = assert_fits_80(lambda c: bench._print_speed(result, c))
    assert "'minirl[bench]'" in text  # not swallowed as rich markup


def test_data_tables_fit_80_columns(monkeypatch):
    import cli

    console = Console(width=80, record=True, file=io.StringIO())
    monkeypatch.setattr(cli, "console", console)
    for command in (["data", "list"], ["data", "info", DATASET]):
        assert CliRunner().invoke(app, command).exit_code == 0
    text = assert_fits_80(lambda c: c.print(Text.from_ansi(console.export_text())))
    assert "babyai-gotolocal" in text and "success_rate" in text and "None" not in text


def test_a_second_collect_suggests_overwrite_and_remove():
    result = CliRunner().invoke(app, ["data", "collect", DATASET, "--episodes", "20"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: dataset '{DATASET}' already exists; replace it with --overwrite, or delete it "
        f"with: minirl data remove {DATASET}"
    ]
