"""What a newcomer meets: the README's tour, run in a fresh `git clone` of this repository, leaves the clone as it was.

Every command of README.md's "A tour of the CLI" runs at tiny sizes (a few steps, a handful of episodes) with the
clone as the working directory and a private MINARI_DATASETS_PATH; afterwards `git status --porcelain` is empty
(outputs went to ignored folders such as runs/) and no MUJOCO_LOG.TXT appeared (that name is ignored by git, so it
is checked by hand). The commands run in this process through Typer's CliRunner, on the code under test.

Left out, and why: `minirl bench speed` (even `--quick` takes about 35 CPU-seconds: tests/test_cli.py covers its
options) and TT's HalfCheetah eval (a beam search at each of 1000 steps); TT is trained, and evaluated on BabyAI.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app

REPO = Path(__file__).resolve().parent.parent
TINY = ["--set", "n_layer=1", "--set", "n_head=1", "--set", "d_model=16", "--set", "batch_size=8"]

# the README's tour, each command with the sizes shrunk (same command, same defaults for where things go)
TOUR = [
    ["data", "collect", "babyai-gotolocal", "--episodes", "20"],
    ["data", "collect", "halfcheetah-medium", "--steps", "400"],
    ["data", "list"],
    ["data", "info", "halfcheetah-medium"],
    ["train", "dt", "--dataset", "babyai-gotolocal", "--steps", "3", *TINY],
    ["train", "dt", "--dataset", "halfcheetah-medium", "--steps", "3", "--eval-every", "3"]
    + ["--eval-episodes", "1", *TINY, "--set", "context_len=5"],
    ["train", "leap", "--dataset", "babyai-gotolocal", "--steps", "3", *TINY],
    ["train", "tt", "--dataset", "babyai-gotolocal", "--steps", "3", *TINY],
    ["eval", "runs/dt-babyai-gotolocal-s0", "--episodes", "2"],
    ["eval", "runs/dt-halfcheetah-medium-s0", "--target-return", "3000", "--episodes", "1"],
    [
        "eval",
        "runs/tt-babyai-gotolocal-s0",
        "--beam-width",
        "2",
        "--horizon",
        "2",
        "--episodes",
        "1",
    ],
    ["eval", "runs/leap-babyai-gotolocal-s0", "--iterations", "1", "--episodes", "2"],
    ["analyze", "all", "runs/dt-babyai-gotolocal-s0", "runs/leap-babyai-gotolocal-s0"],
    ["analyze", "curve", "runs/dt-halfcheetah-medium-s0"],
    ["compare", "--datasets", "babyai-gotolocal", "--algos", "bc,dt", "--seeds", "1"]
    + ["--steps", "3", "--episodes", "2", "--set", "dt.lr=3e-4"],
    ["bench", "quality", "--datasets", "babyai-gotolocal", "--algos", "bc", "--seeds", "1"]
    + ["--budget-minutes", "0.02", "--episodes", "1"],
    ["baseline", "sac", "--env", "halfcheetah", "--steps", "40", "--eval-every", "40"],
    ["lessons"],
]


def command(words: list[str]) -> tuple[str, ...]:
    """["data", "collect", ...] -> ("data", "collect"); ["eval", "runs/x", ...] -> ("eval",)."""
    return tuple(words[:2]) if words[0] in ("data", "analyze", "bench", "baseline") else (words[0],)


def test_tour_covers_every_command_of_the_readme():
    """Each command of the README's tour is in TOUR, so one added to the README but not here fails."""
    tour = (REPO / "README.md").read_text().split("## A tour of the CLI", 1)[1].split("```")[1]
    readme = {command(line.split()[1:]) for line in tour.splitlines() if line.startswith("minirl ")}
    # the one left out on purpose (see the module docstring)
    assert readme - {command(args) for args in TOUR} == {("bench", "speed")}


@pytest.fixture
def clone(tmp_path, monkeypatch):
    """A `git clone` of this repository's HEAD, as the working directory, with its own datasets folder."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout of minirl")
    path = tmp_path / "minirl"
    subprocess.run(["git", "clone", "-q", str(REPO), str(path)], check=True)
    monkeypatch.chdir(path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    return path


def test_readme_tour_leaves_a_fresh_clone_unchanged(clone):
    for args in TOUR:
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, f"minirl {' '.join(args)}:\n{result.output}"
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True
    ).stdout
    assert status == "", f"the tour changed the clone:\n{status}"
    assert not (clone / "MUJOCO_LOG.TXT").exists()
    # what the tour made is where the README says: under runs/, which git ignores
    assert (clone / "runs" / "dt-babyai-gotolocal-s0" / "eval.json").exists()
