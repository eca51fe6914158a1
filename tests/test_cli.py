"""CLI conventions: help everywhere, and bad input ends in one clear line and a non-zero exit, never a traceback."""

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from cli import app, writable_dir
from minirl import data

runner = CliRunner()


def fails_with_one_line(args, expected):
    result = runner.invoke(app, args)
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert expected in lines[0], lines[0]


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("data", "train", "eval", "analyze", "compare", "bench", "baseline", "lessons"):
        assert command in result.output


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--help"],
        ["eval", "--help"],
        ["data", "collect", "--help"],
        ["analyze", "--help"],
        ["compare", "--help"],
        ["bench", "--help"],
    ],
)
def test_every_command_has_help_with_an_example(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0 and "Example" in result.output


def test_unknown_algorithm():
    fails_with_one_line(
        ["train", "ppo", "--dataset", "babyai-gotoredball"], "unknown algorithm 'ppo'"
    )


def test_unknown_dataset():
    fails_with_one_line(["data", "info", "walker-medium"], "walker-medium")


def test_unknown_dataset_for_collect_lists_valid_names():
    fails_with_one_line(
        ["data", "collect", "babyai-nosuchlevel", "--episodes", "2"], "babyai-gotolocal"
    )


def test_missing_run_directory(tmp_path):
    fails_with_one_line(["eval", str(tmp_path / "nope")], "no run directory")


def test_corrupt_checkpoint_is_reported_not_raised(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    fails_with_one_line(["eval", str(tmp_path)], "corrupt")


@pytest.mark.parametrize(
    "args",
    [
        ["data", "collect", "babyai-gotoredball", "--episodes", "-3"],
        ["eval", "runs/x", "--episodes", "0"],
        ["train", "dt", "--dataset", "babyai-gotoredball", "--steps", "-1"],
    ],
)
def test_negative_sizes_are_rejected_naming_the_option_and_its_range(args):
    fails_with_one_line(args, f"'{args[-2]}': must be an integer in [1, ")


def test_unwritable_output_path():
    fails_with_one_line(
        ["train", "bc", "--dataset", "babyai-gotoredball", "--out", "/proc/minirl/run"],
        "cannot write",
    )


def test_bad_device():
    fails_with_one_line(
        ["train", "bc", "--dataset", "babyai-gotoredball", "--device", "tpu", "--steps", "1"],
        "unknown device",
    )


def test_writable_dir_two_runs_starting_at_once_under_one_folder(tmp_path):
    # two `minirl train --out runs/ladder/...` started together both check runs/ladder: neither may fail
    errors = []

    def check():
        for _ in range(300):
            try:
                writable_dir(tmp_path / "runs")
            except Exception as e:  # noqa: BLE001 - the test reports whatever was raised
                errors.append(e)

    threads = [threading.Thread(target=check) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert list((tmp_path / "runs").iterdir()) == []  # no probe left behind


def test_sigterm_stops_a_training_run_as_ctrl_c_does_checkpoint_first(tmp_path, monkeypatch):
    """`kill PID` on a background run (which ignores Ctrl-C's SIGINT) stops it with its checkpoint written, exit 130
    and one line, so `--resume` continues it; before, SIGTERM lost everything since the last periodic checkpoint."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    data.collect("babyai-gotoredball", episodes=3, seed=0, progress=False)
    run = tmp_path / "run"
    args = ["train", "bc", "--dataset", "babyai-gotoredball", "--steps", "10000000"]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from cli import app; app()", *args, "--out", str(run), "--quiet"],
        cwd=Path(__file__).resolve().parents[1],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while not (run / "config.json").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(3)  # some training steps (no periodic checkpoint before step 1,000,000)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted; the last checkpoint is kept" in err and "Traceback" not in err
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert state["step"] > 0 and not state["finished"]
