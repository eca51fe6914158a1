"""The one BabyAI observation encoder (minirl/encoders.py): the only one in the code, its shapes in both observation
modes, the mission reading the grid through FiLM, and every algorithm's BabyAI model built around it.

Real BabyAI data: 6 bot demonstrations of GoToRedBall, egocentric and full, in this file's own Minari folder.
"""

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from minirl import data, runs, train
from minirl.encoders import BabyAIEncoder, PaperEncoder
from minirl.envs import get_spec, make_env
from minirl.tokenizer import BabyAILayout, Tokenizer, mission_ids

ROOT = Path(__file__).resolve().parents[1]
DATASETS = {"egocentric": "babyai-gotoredball", "full": "babyai-gotoredball-full"}
TINY = {  # per algorithm: the smallest model that still has every part
    "dt": {"n_layer": 1, "n_head": 1, "d_model": 16, "context_len": 3, "batch_size": 4},
    "tt": {"n_layer": 1, "n_head": 1, "d_model": 16, "seq_len": 3, "batch_size": 4},
    "leap": {"n_layer": 1, "n_head": 1, "d_model": 16, "horizon": 3, "batch_size": 4},
    "bc": {"hidden": 16, "batch_size": 4},
    "cql": {"hidden": 16, "batch_size": 4},
    "iql": {"hidden": 16, "batch_size": 4},
}


@pytest.fixture(scope="module")
def episodes(tmp_path_factory):
    """6 GoToRedBall demos per observation mode, {"egocentric": [...], "full": [...]}."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("encoders-minari")))
        for name in DATASETS.values():
            data.collect(name, episodes=6, seed=0, progress=False)
        yield {obs: data.load(name) for obs, name in DATASETS.items()}


def live_states(obs: str, n: int = 3) -> tuple[BabyAILayout, torch.Tensor]:
    """The first observation of n real GoToLocal episodes (seeds 0..n-1), encoded: (layout, (n, S) int64)."""
    env = make_env("babyai-gotolocal", obs=obs)
    observations = [env.reset(seed=seed)[0] for seed in range(n)]
    tok = Tokenizer("babyai-gotolocal", True, 7, layout=BabyAILayout.of_episode(observations[0]))
    return tok.layout, torch.from_numpy(tok.encode_obs(observations))


# ---------------------------------------------------------------------------------------------- the only one


def test_no_other_module_embeds_babyai_observations():
    """Only encoders.py builds layers over BabyAI's vocabularies (cell values, mission words) or a GRU / FiLM:
    tokenizer.py defines the vocabularies, and no other module of minirl/ (or cli.py) names them."""
    pattern = re.compile(r"nn\.GRU|nn\.LSTM|\.film\b|GRID_VOCAB|MISSION_VOCAB|EmbeddingBag")
    offenders = [
        f"{path.relative_to(ROOT)}:{i}: {line.strip()}"
        for path in [ROOT / "cli.py", *sorted((ROOT / "minirl").rglob("*.py"))]
        if path.name not in ("encoders.py", "tokenizer.py")
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert offenders == []
    # and the old per-model classes are gone
    for path in (ROOT / "minirl").rglob("*.py"):
        assert not re.search(r"class (BabyAIStateEmbedding|StateEncoder)\b", path.read_text())


# ---------------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("obs", ["egocentric", "full"])
def test_output_is_d_wide_for_any_leading_dimensions(obs):
    layout, states = live_states(obs)  # (3, S)
    assert states.shape == (3, layout.size)
    encoder = BabyAIEncoder(layout, d_model=24)
    assert encoder(states).shape == (3, 24)
    windows = states[None].expand(2, 3, -1)  # (B, K, S) as DT and TT feed it
    out = encoder(windows)
    assert out.shape == (2, 3, 24)
    # each state is encoded on its own: a window's rows equal the states encoded one by one
    torch.testing.assert_close(out[1], encoder(states))


def test_full_mode_has_the_whole_grid_and_egocentric_the_view():
    assert live_states("egocentric")[0] == BabyAILayout("egocentric", 7, 7)
    full = live_states("full")[0]
    assert full.full and (full.width, full.height) == (8, 8)  # GoToLocal's 8x8 room, walls included
    assert full.size == 3 * 64 + 1 + 4 + 24


# ---------------------------------------------------------------------------------------------- the mission


def with_mission(states: torch.Tensor, mission: str) -> torch.Tensor:
    out = states.clone()
    out[..., -len(mission_ids(mission)) :] = torch.from_numpy(mission_ids(mission))
    return out


@pytest.mark.parametrize("obs", ["egocentric", "full"])
def test_the_mission_changes_how_the_grid_is_read(obs):
    """FiLM: the effect of changing the grid depends on the mission. With the FiLM layer zeroed the mission only adds
    its own vector, and the grid's effect is the same under both missions (to float precision)."""
    torch.manual_seed(0)
    layout, states = live_states(obs)
    encoder = BabyAIEncoder(layout, d_model=32).eval()
    grid_a, grid_b = states[0], states[1]  # two different rooms

    def grid_effect(mission: str) -> torch.Tensor:
        return encoder(with_mission(grid_a, mission)) - encoder(with_mission(grid_b, mission))

    with torch.no_grad():
        assert not torch.allclose(
            encoder(with_mission(grid_a, "go to the red ball")),
            encoder(with_mission(grid_a, "go to the blue key")),
        )
        red, blue = grid_effect("go to the red ball"), grid_effect("go to the blue key")
        assert (red - blue).abs().max() > 1e-3
        encoder.film.weight.zero_()
        encoder.film.bias.zero_()
        red, blue = grid_effect("go to the red ball"), grid_effect("go to the blue key")
        torch.testing.assert_close(red, blue, atol=1e-6, rtol=0)


def test_full_mode_reads_the_agent_and_goal_cells():
    layout, states = live_states("full")
    encoder = BabyAIEncoder(layout, d_model=16).eval()
    goal = layout.grid_values + 3  # agent x, y, goal x, y follow the direction
    moved = states.clone()
    moved[:, goal : goal + 2] = torch.tensor([1, 1])
    with torch.no_grad():
        assert not torch.allclose(encoder(states), encoder(moved))


# ---------------------------------------------------------------------------------------------- every algorithm


def build(algo: str, episodes: list, obs: str):
    module = runs.algo_module(algo)
    spec = get_spec(data.env_of(DATASETS[obs]))
    cfg = train.make_config(module, TINY[algo], spec.name)
    tok = module.make_tokenizer(episodes, spec, cfg)
    torch.manual_seed(0)
    return module, cfg, tok, module.Model(cfg, tok)


@pytest.mark.parametrize("obs", ["egocentric", "full"])
@pytest.mark.parametrize("algo", list(TINY))
def test_every_algorithm_embeds_babyai_with_the_shared_encoder(algo, obs, episodes):
    """Each of the six BabyAI models holds BabyAIEncoders and nothing else that embeds the state, and trains on
    states of either observation mode (one finite loss with a gradient in the encoder)."""
    module, cfg, tok, model = build(algo, episodes[obs], obs)
    encoders = [m for m in model.modules() if isinstance(m, BabyAIEncoder)]
    assert encoders and all(e.layout == tok.layout for e in encoders)
    batch = module.sample_batch(
        module.prepare(episodes[obs], tok, cfg), cfg, np.random.default_rng(0)
    )
    loss = model.loss(batch)
    assert torch.isfinite(loss)
    loss.backward()
    assert any(
        p.grad is not None and p.grad.abs().sum() > 0 for e in encoders for p in e.parameters()
    )


def test_a_babyai_checkpoint_from_before_the_shared_encoder_is_refused_in_one_line(
    episodes, tmp_path
):
    """DT's old BabyAIStateEmbedding named its projections mission_proj and grid_proj: such a checkpoint no longer
    fits the model, and `minirl eval` says so in one line, no traceback."""
    module, cfg, tok, model = build("dt", episodes["egocentric"], "egocentric")
    old_names = {".mission.": ".mission_proj.", ".grid.": ".grid_proj."}
    state = {}
    for key, value in model.state_dict().items():
        for new, old in old_names.items():
            key = key.replace(f"embed_state{new}", f"embed_state{old}")
        state[key] = value
    run = tmp_path / "old-dt"
    run.mkdir()
    torch.save(
        {
            "version": runs.CHECKPOINT_VERSION,
            "algo": "dt",
            "config": dataclasses.asdict(cfg),
            "tokenizer": tok.state_dict(),
            "model": state,
            "step": 1,
            "finished": True,
        },
        run / "checkpoint.pt",
    )
    with pytest.raises(runs.RunError, match="does not match a dt model"):
        runs.load_run(run)
    result = CliRunner().invoke(app, ["eval", str(run), "--episodes", "1"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "does not match a dt model" in result.output
    assert len(result.output.strip().splitlines()) == 1


# ---------------------------------------------------------------------------------------------- the paper's encoder


def test_the_paper_encoder_reads_grid_mission_and_pose_and_only_in_full_mode():
    """encoder=paper (PaperEncoder, the official LEAP model's CNN + BatchNorm + FiLM): D wide for any leading
    dimensions, refused for the egocentric view (it needs the agent and goal cells), and every part of the state
    (the grid, the mission, the agent's cell, the goal's cell) changes its output."""
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="full"):
        PaperEncoder(live_states("egocentric")[0], d_model=16)
    layout, states = live_states("full")
    # training mode: BatchNorm normalizes with the batch's statistics (untrained running statistics, 0 and 1, let the
    # ReLUs of a fresh encoder die, and only the last FiLM's shift would reach the output)
    encoder = PaperEncoder(layout, d_model=16).train()
    with torch.no_grad():
        out = encoder(states)
        assert out.shape == (3, 16)
        torch.testing.assert_close(encoder(states[None].expand(2, 3, -1))[1], out)
        g = layout.grid_values
        changed = {  # every row changed in one part
            "grid": torch.cat([states.roll(1, 0)[:, :g], states[:, g:]], 1),
            "mission": with_mission(states, "go to the blue key"),
        }
        for name, first in {"agent cell": g + 1, "goal cell": g + 3}.items():
            changed[name] = states.clone()
            changed[name][:, first : first + 2] = torch.tensor([1, 1])
        for name, state in changed.items():
            assert not torch.allclose(encoder(state), out), name


def test_models_with_the_paper_encoder_keep_its_own_init(episodes):
    """GPT-2's init_weights runs over the whole model; the paper encoder's FiLM layers must come out of it with the
    official unit-norm rows (and LEAP and DT both build it when asked, and train through it)."""
    for algo in ("leap", "dt"):
        module = runs.algo_module(algo)
        spec = get_spec(data.env_of(DATASETS["full"]))
        cfg = train.make_config(module, dict(TINY[algo], encoder="paper"), spec.name)
        tok = module.make_tokenizer(episodes["full"], spec, cfg)
        model = module.Model(cfg, tok)
        encoder = model.embed_state
        assert isinstance(encoder, PaperEncoder)
        rows = encoder.film_pose[0].gamma.weight.norm(dim=1)
        torch.testing.assert_close(rows, torch.ones_like(rows))
        # and it trains: DT's padded windows (encoded on their real steps only), LEAP's masked copies
        prepared = module.prepare(episodes["full"], tok, cfg)
        loss = model.loss(module.sample_batch(prepared, cfg, np.random.default_rng(0)))
        loss.backward()
        assert torch.isfinite(loss) and encoder.stem[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("algo", ["bc", "cql", "iql", "tt"])
def test_every_method_can_read_states_through_the_paper_encoder(algo, episodes):
    """encoder=paper is a field of every method, so a BabyAI table can give all six the same encoder: each builds
    PaperEncoders (the baselines one per network), keeps their official FiLM init, and trains through them."""
    module = runs.algo_module(algo)
    spec = get_spec(data.env_of(DATASETS["full"]))
    cfg = train.make_config(module, dict(TINY[algo], encoder="paper"), spec.name)
    tok = module.make_tokenizer(episodes["full"], spec, cfg)
    torch.manual_seed(0)
    model = module.Model(cfg, tok)
    encoders = [m for m in model.modules() if isinstance(m, PaperEncoder)]
    assert encoders and not any(isinstance(m, BabyAIEncoder) for m in model.modules())
    for encoder in encoders:
        rows = encoder.film_mission[0].gamma.weight.norm(dim=1)
        torch.testing.assert_close(rows, torch.ones_like(rows))
    prepared = module.prepare(episodes["full"], tok, cfg)
    loss = model.loss(module.sample_batch(prepared, cfg, np.random.default_rng(0)))
    loss.backward()
    assert torch.isfinite(loss)
    assert any(
        e.stem[0].weight.grad is not None and e.stem[0].weight.grad.abs().sum() > 0
        for e in encoders
    )
