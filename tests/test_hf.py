"""Hugging Face interoperability: a transformers DecisionTransformerModel, imported with `minirl import hf-dt`, acts
exactly as it does in transformers, and `minirl eval` / `minirl analyze` take the run (offline: a small random model
saved to disk stands in for a Hub checkpoint)."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from minirl import dt
from minirl.runs import load_run
from minirl.tokenizer import Normalizer, Tokenizer

transformers = pytest.importorskip(
    "transformers", reason="needs transformers (pip install 'minirl[hf]')"
)

runner = CliRunner()
STATE_DIM, ACT_DIM = 17, 6  # HalfCheetah


def save_random_decision_transformer(
    folder, activation: str = "relu", **config
) -> transformers.PreTrainedModel:
    """A small DecisionTransformerModel with random weights, saved like a Hub checkpoint. The weights are pushed
    away from transformers' N(0, 0.02) init, under which every layer is nearly linear: then a wrong activation or a
    missed transpose changes the actions by far more than the tolerance."""
    torch.manual_seed(0)
    cfg = transformers.DecisionTransformerConfig(
        state_dim=STATE_DIM,
        act_dim=ACT_DIM,
        hidden_size=32,
        n_layer=2,
        n_head=2,
        max_ep_len=1000,
        activation_function=activation,
        bos_token_id=None,
        eos_token_id=None,
        **config,
    )
    model = transformers.DecisionTransformerModel(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    model.save_pretrained(folder)
    return model


def statistics_options(rng: np.random.Generator) -> list[str]:
    mean, std = rng.normal(size=STATE_DIM), rng.uniform(0.5, 2.0, size=STATE_DIM)
    return [
        "--state-mean",
        ",".join(f"{x:.6f}" for x in mean),
        "--state-std",
        ",".join(f"{x:.6f}" for x in std),
    ]


def import_run(checkpoint, out, *extra) -> None:
    result = runner.invoke(
        app,
        [
            "import",
            "hf-dt",
            str(checkpoint),
            "--out",
            str(out),
            *statistics_options(np.random.default_rng(1)),
            "--rtg-scale",
            "1000",
            *extra,
        ],
    )
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """(Hugging Face model, minirl run folder) for a ReLU checkpoint, Hugging Face's default."""
    folder = tmp_path_factory.mktemp("hf")
    model = save_random_decision_transformer(folder / "checkpoint")
    import_run(folder / "checkpoint", folder / "run")
    return model, folder / "run"


def max_action_difference(hf_model, run, K: int, seed: int = 0) -> float:
    """Largest |minirl action - Hugging Face action| on 4 random windows of K steps (no padding)."""
    _, _, _, model, _ = load_run(run)
    g = torch.Generator().manual_seed(seed)
    # already normalized, as both models receive them
    states = torch.randn(4, K, STATE_DIM, generator=g)
    actions = torch.rand(4, K, ACT_DIM, generator=g) * 2 - 1
    rtg = torch.randn(4, K, generator=g)  # already divided by rtg_scale
    timesteps = torch.randint(0, 1000, (4, K), generator=g)
    with torch.no_grad():
        theirs = hf_model(
            states=states,
            actions=actions,
            returns_to_go=rtg[..., None],
            timesteps=timesteps,
            return_dict=True,
        ).action_preds
        ours = model(rtg, states, actions, timesteps)
    # the actions are not all near zero, so the comparison means something
    assert theirs.abs().mean() > 0.1
    return (ours - theirs).abs().max().item()


@pytest.mark.parametrize("K", [1, 7, 20])
def test_imported_decision_transformer_acts_as_in_transformers(imported, K):
    hf_model, run = imported
    assert max_action_difference(hf_model, run, K) < 1e-5


@pytest.mark.parametrize("activation", ["gelu", "gelu_new"])
def test_each_activation_is_mapped_to_the_same_function(tmp_path, activation):
    hf_model = save_random_decision_transformer(tmp_path / "checkpoint", activation)
    import_run(tmp_path / "checkpoint", tmp_path / "run")
    assert max_action_difference(hf_model, tmp_path / "run", K=20) < 1e-5


def test_imported_run_holds_the_given_state_statistics_and_rtg_scale(imported):
    _, run = imported
    _, cfg, tok, _, state = load_run(run)
    mean = np.random.default_rng(1).normal(size=STATE_DIM)
    np.testing.assert_allclose(tok.state_norm.mean, mean, atol=1e-6)
    assert tok.rtg_scale == cfg.rtg_scale == 1000.0 and cfg.activation == "relu"
    assert (
        state["env"] == "halfcheetah"
        and json.loads((run / "config.json").read_text())["algo"] == "dt"
    )


def test_imported_run_evaluates(imported):
    _, run = imported
    result = runner.invoke(
        app, ["eval", str(run), "--episodes", "1", "--target-return", "6000", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads((run / "eval.json").read_text())["runs"][0]["episodes"] == 1


def test_imported_run_is_analyzed(imported, tmp_path):
    _, run = imported
    data_dir = tmp_path / "datasets"
    made = runner.invoke(
        app,
        ["data", "collect", "halfcheetah-medium", "--steps", "1000", "--data-dir", str(data_dir)],
    )
    assert made.exit_code == 0, made.output
    result = runner.invoke(
        app,
        [
            "analyze",
            "attention",
            str(run),
            "--data-dir",
            str(data_dir),
            "--out",
            str(tmp_path / "figures"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert list((tmp_path / "figures").glob("*.png"))


def test_import_refuses_statistics_of_the_wrong_size(tmp_path):
    result = runner.invoke(
        app, ["import", "hf-dt", str(tmp_path), "--state-mean", "0,0", "--state-std", "1,1"]
    )
    assert result.exit_code == 1 and result.output.strip() == (
        "error: --state-mean must list 17 numbers (one per halfcheetah state dimension), got 2"
    )


def test_import_refuses_what_minirl_cannot_run(tmp_path):
    save_random_decision_transformer(tmp_path / "checkpoint", layer_norm_epsilon=1e-6)
    result = runner.invoke(
        app,
        [
            "import",
            "hf-dt",
            str(tmp_path / "checkpoint"),
            "--out",
            str(tmp_path / "run"),
            *statistics_options(np.random.default_rng(0)),
        ],
    )
    assert (
        result.exit_code == 1
        and "layer_norm_epsilon 1e-06" in result.output.strip().splitlines()[-1]
    )
    assert not (tmp_path / "run").exists()


def test_default_dt_is_unchanged_by_the_activation_switch():
    """Runs trained before `activation` existed load as they were: their MLPs use exact GELU."""
    tok = Tokenizer(
        "halfcheetah", False, ACT_DIM, Normalizer(np.zeros(STATE_DIM), np.ones(STATE_DIM))
    )
    model = dt.Model(dt.Config(n_layer=1, d_model=16), tok)
    activation = model.transformer.blocks[0].mlp[1]
    assert isinstance(activation, torch.nn.GELU) and activation.approximate == "none"
