"""Training in 2 processes (torch.distributed, Gloo on CPU) is one run with the same global batch, and evaluation
in worker processes gives the sequential results (issue 18).

One launch of 2 processes trains a tiny DT and a tiny IQL on a tiny real BabyAI dataset, 4 steps each, then resumes
each to 8 steps. The reference for each is a single process with the same global batch: the same two shards (drawn
from the two ranks' generators) concatenated, and the loss taken as the mean of the two halves' losses, which is
what 2 processes average. The weights must agree to 1e-5 (they differ only in float summation order).
"""

import dataclasses
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from minirl import data, distributed, train
from minirl.envs import get_spec
from minirl.evaluate import evaluate_run
from minirl.runs import algo_module, hook, load_checkpoint

DATASET = "babyai-gotoredball"
# dropout 0: each rank draws its own dropout masks, which one process cannot repeat
RUNS = {
    "dt": {"batch_size": "8", "dropout": "0", "n_layer": "1", "d_model": "32", "context_len": "4"},
    "iql": {"batch_size": "16", "hidden": "32", "lr_schedule": "constant"},
}


def _two_process_runs(root: str) -> None:
    """Run by each of the 2 processes: every algorithm 4 steps, then resumed to 8."""
    for algo, overrides in RUNS.items():
        out = f"{root}/{algo}"
        train.run_training(algo, DATASET, steps=4, out=out, overrides=overrides, progress=False)
        train.run_training(algo, DATASET, steps=8, out=out, resume=True, progress=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The 2-process runs' folders (one launch for all of them), in this file's own datasets folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("distributed-minari")))
        data.collect(DATASET, episodes=30, seed=0, progress=False)
        root = tmp_path_factory.mktemp("runs")
        distributed.launch(2, _two_process_runs, root=str(root))
        yield root


class TwoShards(torch.nn.Module):
    """A model whose loss is the mean of the losses of its batch's two halves: what 2 processes compute. (DT's
    loss is a mean over real steps, so it is not the whole batch's mean when the halves hold different numbers of
    padded steps.)"""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def loss(self, batch):
        half = len(next(iter(batch.values()))) // 2
        first, second = (
            {k: v[part] for k, v in batch.items()} for part in (slice(half), slice(half, None))
        )
        return (self.model.loss(first) + self.model.loss(second)) / 2

    def after_step(self):
        hook(self.model, "after_step")()


def one_process_reference(algo: str, steps: int, folder):
    """The weights after `steps` updates in one process, on the 2 ranks' shards put together."""
    module = algo_module(algo)
    env = data.env_of(DATASET)
    cfg = dataclasses.replace(train.make_config(module, RUNS[algo], env), steps=steps)
    episodes = data.load(DATASET)
    tok = module.make_tokenizer(episodes, get_spec(env), cfg)
    prepared = module.prepare(episodes, tok, cfg)
    torch.manual_seed(0)
    model = module.Model(cfg, tok)
    shard = dataclasses.replace(cfg, batch_size=cfg.batch_size // 2)
    # the ranks' generators: rank r is seeded seed + r * 2**32 (seed 0)
    rngs = [np.random.default_rng(r * 2**32) for r in (0, 1)]

    def both_shards(_rng):
        parts = [module.sample_batch(prepared, shard, rng) for rng in rngs]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    train.fit(TwoShards(model), both_shards, cfg, folder, {"algo": algo}, progress=False)
    return model.state_dict()


@pytest.mark.parametrize("algo", ["dt", "iql"])
def test_two_processes_resumed_match_one_process_with_the_same_global_batch(runs, algo, tmp_path):
    state = load_checkpoint(runs / algo)
    assert state["step"] == 8 and state["finished"] and state["world_size"] == 2
    assert len(state["rng"]) == 2  # each rank's random numbers, to resume exactly
    expected = one_process_reference(algo, 8, tmp_path)
    for name, tensor in expected.items():
        torch.testing.assert_close(state["model"][name], tensor, atol=1e-5, rtol=0, msg=name)


@pytest.mark.parametrize("algo", ["dt", "iql"])
def test_only_rank_zero_logs_each_step_once_and_leaves_no_temporary_file(runs, algo):
    steps = [
        json.loads(line)["step"]
        for line in (runs / algo / "metrics.jsonl").read_text().splitlines()
    ]
    assert steps == list(range(1, 9))
    assert sorted(p.name for p in (runs / algo).iterdir()) == [
        "checkpoint.pt",
        "config.json",
        "metrics.jsonl",
    ]


def test_resuming_with_another_number_of_processes_is_refused(runs):
    result = CliRunner().invoke(
        app,
        [
            "train",
            "dt",
            "--dataset",
            DATASET,
            "--out",
            str(runs / "dt"),
            "--resume",
            "--steps",
            "9",
        ],
    )
    assert result.exit_code == 1
    assert "trained by 2 process(es), not 1" in result.output


def test_evaluation_in_two_worker_processes_equals_the_sequential_one(runs):
    sequential = evaluate_run(runs / "dt", episodes=4, seed=3, progress=False)["runs"][0]
    workers = evaluate_run(runs / "dt", episodes=4, seed=3, progress=False, workers=2)["runs"][0]
    for key in ("returns", "lengths", "trace"):
        assert workers[key] == sequential[key], key


def test_bf16_autocast_computes_the_loss_in_bfloat16_and_keeps_float32_weights():
    """--precision bf16: a tiny DT's first loss is fp32's to bfloat16's precision (3 significant digits), and its
    weights, gradients and AdamW step stay float32."""
    from minirl import dt
    from minirl.bench import dt_batch, halfcheetah_tokenizer

    losses = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        cfg = dt.Config(n_layer=1, d_model=32, context_len=4, dropout=0.0)
        model = dt.Model(cfg, halfcheetah_tokenizer())
        opt = train.make_optimizer(model, cfg.lr, cfg.weight_decay)
        losses[precision] = train.train_step(model, dt_batch(8, 4), opt, cfg, precision).item()
        assert all(p.dtype == torch.float32 for p in model.parameters())
    assert losses["bf16"] != losses["fp32"]  # autocast did run in bfloat16
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=1e-2)


def test_nproc_under_torchrun_is_refused_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun sets in each process it starts
    result = CliRunner().invoke(
        app, ["train", "dt", "--dataset", DATASET, "--out", str(tmp_path / "r"), "--nproc", "2"]
    )
    assert result.exit_code == 1
    assert "--nproc starts torchrun itself; under torchrun, leave it out" in result.output


def test_the_dataset_moves_to_the_training_device_once_and_numpy_bookkeeping_stays_home():
    """`on_device` moves every tensor of a module's prepared data (nested dicts too) and leaves numpy arrays (the
    sampler's draws read them on the host) and numbers alone; torch's "meta" device stands in for a GPU."""
    meta = torch.device("meta")
    prepared = {
        "tokens": torch.zeros(5, 3),
        "starts": np.arange(5),
        "end_token": 7,
        "steps": {"states": torch.ones(5, 2)},
    }
    moved = train.on_device(prepared, meta)
    assert moved["tokens"].device == meta and moved["steps"]["states"].device == meta
    assert isinstance(moved["starts"], np.ndarray) and moved["end_token"] == 7
    assert prepared["tokens"].device.type == "cpu"  # the original is not changed


def test_a_dataset_too_big_for_the_device_is_refused_in_one_line(monkeypatch):
    """5 x 3 float32 = 60 bytes against 50 free: refused before anything is copied, with both sizes in GiB."""
    monkeypatch.setattr(train, "_free_memory", lambda device: 50)
    with pytest.raises(train.RunError, match=r"the dataset needs 0\.0 GiB on meta.*--device cpu"):
        train.on_device({"tokens": torch.zeros(5, 3)}, torch.device("meta"))
    train.on_device(
        {"tokens": torch.zeros(2, 3)}, torch.device("meta")
    )  # 24 bytes fit in 80% of 50
