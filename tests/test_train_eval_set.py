"""`minirl train --eval-every N --eval-set name=value`: the periodic evaluation plans with the given EvalOptions.

Real data at a tiny size: 1000 random HalfCheetah steps in this module's own Minari folder, a 2-layer TT trained for
2 steps, evaluation episodes cut after 5 env steps (as tests/test_docs.py cuts them).
"""

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from cli import app
from minirl import data, envs, evaluate, tt
from minirl.runs import load_run

runner = CliRunner()
TINY = ["n_layer=2", "n_head=2", "d_model=32", "seq_len=3", "batch_size=8", "N=20"]


@pytest.fixture(scope="module", autouse=True)
def dataset(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("eval_set_minari")))
        data.collect("halfcheetah-random", steps=1000, seed=0, progress=False)
        yield


@pytest.fixture(autouse=True)
def short_episodes(monkeypatch):
    monkeypatch.setattr(
        evaluate,
        "make_env",
        lambda name, **kwargs: envs.make_env(name, max_episode_steps=5, **kwargs),
    )


def train(out, *extra):
    args = ["train", "tt", "--dataset", "halfcheetah-random", "--out", str(out), "--quiet"]
    for pair in TINY:
        args += ["--set", pair]
    return runner.invoke(app, args + ["--steps", "2", *extra])


def fails_with_one_line(result, expected):
    assert result.exit_code != 0, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    assert expected in lines[0], lines[0]


def test_eval_set_reaches_the_periodic_evaluation_and_is_written_to_config(tmp_path):
    args = ["--eval-every", "2", "--eval-episodes", "1", "--eval-set", "beam_width=2"]
    result = train(tmp_path / "run", *args)
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["eval"] == {
        "episodes": 1,
        "options": {**dataclasses.asdict(tt.EvalOptions()), "beam_width": 2},
    }
    row = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").open()][-1]
    # the last row scores the final weights: what `minirl eval --set beam_width=2` gets from the checkpoint
    module, _, tok, model, state = load_run(tmp_path / "run")
    planned = {
        width: evaluate.rollout(
            module, model, tok, state["env"], 1, 10_000, False, beam_width=width
        )["return_mean"]
        for width in (2, tt.EvalOptions.beam_width)
    }
    assert row["step"] == 2 and row["return_mean"] == planned[2]
    # and the setting matters: the default beam plans differently
    assert planned[2] != planned[tt.EvalOptions.beam_width]


def test_resume_keeps_the_runs_eval_settings_and_refuses_others(tmp_path):
    args = ["--eval-every", "2", "--eval-episodes", "1", "--eval-set", "beam_width=2"]
    assert train(tmp_path / "run", *args).exit_code == 0
    resumed = train(tmp_path / "run", "--resume", "--eval-every", "2")
    assert resumed.exit_code == 0, resumed.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["eval"]["episodes"] == 1 and config["eval"]["options"]["beam_width"] == 2
    fails_with_one_line(
        train(tmp_path / "run", "--resume", "--eval-every", "2", "--eval-set", "beam_width=4"),
        "this run evaluates with beam_width=2; --resume keeps",
    )


@pytest.mark.parametrize(
    "extra, expected",
    [
        (
            ["--eval-set", "beam=2"],
            "--eval-set beam: tt has no config field 'beam'; valid: beam_width",
        ),
        (["--eval-set", "beam_width=0"], "--eval-set beam_width=0: tt's beam_width must be"),
        (["--eval-set", "cdf_act=1"], "--eval-set cdf_act=1: tt's cdf_act must be"),
        (["--eval-set", "beam_width"], "--eval-set expects key=value, got 'beam_width'"),
    ],
)
def test_unknown_names_and_bad_values_are_refused_in_one_line(tmp_path, extra, expected):
    fails_with_one_line(train(tmp_path / "run", "--eval-every", "1", *extra), expected)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_eval_set_without_eval_every_is_refused(tmp_path):
    fails_with_one_line(
        train(tmp_path / "run", "--eval-set", "beam_width=2"), "give --eval-every N too"
    )
