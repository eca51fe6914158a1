"""`minirl analyze`: attention metrics on hand-made maps, then every analysis on tiny models trained on real data."""

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from minirl import analysis
from minirl.analysis import common, metrics, timing

# ---------------------------------------------------------------------------------------------- metrics


def uniform_causal(T: int) -> np.ndarray:
    return np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None]


def test_entropy_of_uniform_attention_is_log_n():
    attn = np.full((3, 7), 1 / 7)
    np.testing.assert_allclose(metrics.row_entropy(attn), math.log(7))
    causal = metrics.row_entropy(uniform_causal(6), metrics.causal_allowed(6))
    np.testing.assert_allclose(causal, np.log(np.arange(1, 7)))


def test_entropy_of_one_hot_attention_is_zero():
    np.testing.assert_allclose(metrics.row_entropy(np.eye(5)), 0.0)


def test_share_of_keys_holding_90_percent_matches_hand_count():
    rows = np.array(
        [
            [0.5, 0.3, 0.15, 0.05],  # 0.5 + 0.3 < 0.9 <= + 0.15: 3 of 4 keys
            [1.0, 0.0, 0.0, 0.0],  # one key
            [0.25, 0.25, 0.25, 0.25],
        ]
    )  # ceil(0.9 * 4) = 4 keys
    np.testing.assert_allclose(metrics.keys_for_mass(rows, 0.9), [0.75, 0.25, 1.0])


def test_share_of_keys_counts_only_visible_keys():
    share = metrics.keys_for_mass(uniform_causal(5), 0.9, metrics.causal_allowed(5))
    # uniform over n visible keys needs all n
    np.testing.assert_allclose(share, [1.0, 1.0, 1.0, 1.0, 1.0])


def test_gini_matches_hand_computed_values():
    rows = np.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    # Σ_ij |p_i - p_j| / (2 n Σp): 0; 6 / 8; 8 pairs of 0.5 / 8 = 0.5
    np.testing.assert_allclose(metrics.gini(rows), [0.0, 0.75, 0.5])


def test_gini_over_visible_keys_equals_the_pairwise_definition():
    rng = np.random.default_rng(0)
    allowed = np.tril(np.ones((6, 6), bool))
    allowed[:, 2] = False  # a hidden column (as TT's value tokens)
    allowed |= np.eye(6, dtype=bool)
    attn = np.where(allowed, rng.random((6, 6)), 0.0)
    attn /= attn.sum(-1, keepdims=True)
    expected = []
    for q in range(6):
        x = attn[q][allowed[q]]
        expected.append(
            np.abs(x[:, None] - x[None, :]).sum() / (2 * len(x) * x.sum()) if len(x) > 1 else 0.0
        )
    np.testing.assert_allclose(metrics.gini(attn, allowed), expected, atol=1e-12)


def test_distance_mass_matches_hand_computed_values():
    steps = np.array([0, 0, 1, 1, 2, 2])  # two tokens per timestep
    attn = np.zeros((6, 6))
    attn[5, [4, 2, 0]] = [0.6, 0.3, 0.1]  # same step, 1 back, 2 back
    attn[3, [3, 1]] = [0.5, 0.5]  # same step, 1 back
    mass = metrics.distance_mass(
        attn, steps, steps, queries=[5, 3], allowed=metrics.causal_allowed(6)
    )
    assert mass == pytest.approx({0: 0.55, 1: 0.4, 2: 0.05})
    assert sum(mass.values()) == pytest.approx(1.0)


def test_distance_mass_reports_the_future_as_negative_distances():
    steps = np.array([0, 1, 2])
    attn = np.array([[0.2, 0.3, 0.5]] * 3)
    assert metrics.distance_mass(attn, steps, steps, queries=[0]) == pytest.approx(
        {0: 0.2, -1: 0.3, -2: 0.5}
    )


def test_group_shares_and_step_ages_sum_to_one():
    row = np.array([0.1, 0.2, 0.3, 0.4])
    shares = metrics.group_shares(
        row, np.array(["return", "state", "action", "state"]), ["return", "state", "action"]
    )
    np.testing.assert_allclose(shares, [0.1, 0.6, 0.3])
    ages = metrics.age_groups(5, np.array([5, 4, 1, 6]))
    assert ages.tolist() == ["current", "recent", "old", "future"]


def test_head_entropy_summary_tells_specialized_from_generalist_heads():
    T = 8
    focused = np.eye(T)  # every query on itself
    maps = [np.stack([focused, uniform_causal(T)])[None]]  # one layer, (1, 2 heads, T, T)
    heads = metrics.head_entropy_summary(maps, metrics.causal_allowed(T))["layers"][0]
    assert heads[0]["class"] == "specialized" and heads[0]["entropy"] == pytest.approx(0.0)
    assert heads[1]["class"] == "generalist" and heads[1]["ratio"] == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------- tiny trained models

SMALL = dict(n_layer=2, n_head=2, d_model=32, batch_size=16, warmup_steps=5)
OVERRIDES = {
    "dt": dict(SMALL, context_len=8),
    "tt": dict(SMALL, seq_len=6, N=20),
    "leap": dict(SMALL, horizon=4, iterations=3),
}


@pytest.fixture(scope="module")
def datasets_dir(tmp_path_factory):
    """20 BabyAI bot episodes in this module's own MINARI_DATASETS_PATH (restored afterwards)."""
    from minirl import data

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("analysis-minari")))
        data.collect("babyai-gotoredball", episodes=20, seed=0, progress=False)
        yield


@pytest.fixture(scope="module")
def run_dirs(datasets_dir, tmp_path_factory):
    """algo -> a run directory trained for 30 steps on the dataset (models whose file is missing are left out)."""
    from minirl.train import run_training

    root = tmp_path_factory.mktemp("analysis-runs")
    dirs = {}
    for algo, overrides in OVERRIDES.items():
        try:
            __import__(f"minirl.{algo}")
        except ModuleNotFoundError:
            continue
        torch.manual_seed(0)
        dirs[algo] = run_training(
            algo,
            "babyai-gotoredball",
            steps=30,
            out=root / algo,
            progress=False,
            device="cpu",
            overrides=overrides,
        )
    return dirs


def model_dir(run_dirs, algo):
    pytest.importorskip(f"minirl.{algo}")
    return run_dirs[algo]


@pytest.fixture(scope="module")
def figures(run_dirs, tmp_path_factory):
    """`minirl analyze all` on every tiny run: the folder and the files it reports."""
    out = tmp_path_factory.mktemp("figures")
    return out, analysis.run("all", [str(d) for d in run_dirs.values()], out)


@pytest.mark.parametrize("algo", ["dt", "tt", "leap"])
def test_attention_rows_sum_to_one(run_dirs, algo):
    run = common.load(model_dir(run_dirs, algo))
    for window in common.windows_for(run, 4):
        for layer_map in window.maps:  # (H, T, T)
            np.testing.assert_allclose(layer_map.sum(-1), 1.0, atol=1e-5)


@pytest.mark.parametrize("algo", ["dt", "tt"])
def test_causal_models_put_no_attention_above_the_diagonal(run_dirs, algo):
    run = common.load(model_dir(run_dirs, algo))
    for window in common.windows_for(run, 4):
        assert window.causal
        for layer_map in window.maps:
            assert np.triu(layer_map, 1).max() == 0.0


def test_leap_attends_to_later_tokens(run_dirs):
    run = common.load(model_dir(run_dirs, "leap"))
    window = common.windows_for(run, 1)[0]
    assert not window.causal
    for layer_map in window.maps:
        # bidirectional: a real share above the diagonal
        assert np.triu(layer_map, 1).sum(-1).mean() > 0.1


@pytest.mark.parametrize("algo,decision_type", [("dt", "state"), ("tt", "state"), ("leap", "mask")])
def test_the_decision_query_is_the_token_the_action_is_read_from(run_dirs, algo, decision_type):
    run = common.load(model_dir(run_dirs, algo))
    episode = run.arrays()[0]
    window, row = common.decision_view(run, episode, len(episode["rewards"]) - 1)
    assert window.types[row] == decision_type
    assert window.steps[row] == len(episode["rewards"]) - 1


def test_capture_leaves_the_outputs_as_they_were_and_is_off_afterwards(run_dirs):
    run = common.load(model_dir(run_dirs, "tt"))
    tokens = torch.as_tensor(run.arrays()[0]["tokens"][:1]).reshape(1, -1)[:, :-1]
    states = torch.as_tensor(run.arrays()[0]["states"][:1])[None]
    before = run.model(tokens, states=states)
    window = common.capture(run, run.arrays()[0], 0, 1)
    torch.testing.assert_close(run.model(tokens, states=states), before)
    assert len(window.maps) == run.cfg.n_layer
    assert all(
        block.attn.probs is None and not block.attn.capture
        for block in run.model.transformer.blocks
    )


def test_each_model_exports_its_token_layout(run_dirs):
    """BabyAI: DT (R̂, s, a) per step; TT [s, a, r, V] per transition (the state is one token); LEAP the state, then
    one token per plan step."""
    dt = common.load(model_dir(run_dirs, "dt")).model.token_layout(2)
    assert dt.types == ["return", "state", "action"] * 2
    assert dt.steps == [0, 0, 0, 1, 1, 1] and dt.reads == [1, 4]
    tt = common.load(model_dir(run_dirs, "tt")).model.token_layout(7)
    assert tt.types == ["state", "action", "reward", "value", "state", "action", "reward"]
    assert tt.steps == [0, 0, 0, 0, 1, 1, 1] and tt.reads == [0, 4]
    model = common.load(model_dir(run_dirs, "leap")).model
    leap = model.token_layout(torch.tensor([model.mask_id, 2, 0]))
    assert leap.types == ["state", "mask", "plan", "plan"]
    assert leap.steps == [0, 0, 1, 2] and leap.reads == [1, 2, 3]


def png_width(path) -> int:
    """Pixel width from a PNG's IHDR chunk."""
    return int.from_bytes(path.read_bytes()[16:20], "big")


def test_figures_leave_out_the_panels_they_have_nothing_for(run_dirs, tmp_path):
    """A run trained without --eval-every: the curve is the loss panel alone (4.2 in at 110 dpi); an error analysis
    without a TT run: the action panel alone (6.0 in)."""
    dt = str(model_dir(run_dirs, "dt"))
    png, _ = analysis.run("curve", [dt], tmp_path)
    assert png_width(png) == 462
    png, _ = analysis.run("error", [dt], tmp_path)
    assert png_width(png) == 660


@pytest.mark.parametrize("kind", analysis.KINDS)
def test_every_analysis_writes_a_png_and_the_json_behind_it(figures, run_dirs, kind):
    out, written = figures
    algos = [a for a in analysis.APPLIES[kind] if a in run_dirs]
    if not algos:
        pytest.skip(f"no run for {kind}")
    pngs = [
        p
        for p in written
        if p.suffix == ".png"
        and (p.stem == kind or p.stem.startswith(kind + "-"))
        and not (kind == "attention" and p.stem.startswith("attention-by-type"))
    ]
    assert pngs, f"no figure for {kind}"
    for png in pngs:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        numbers = json.loads(png.with_suffix(".json").read_text())
        assert numbers
    index = (out / "index.md").read_text()
    assert all(png.name in index for png in pngs)


def test_attention_json_shows_causal_and_bidirectional_maps(figures, run_dirs):
    out, _ = figures
    for algo in run_dirs:
        numbers = json.loads((out / f"attention-{algo}.json").read_text())
        above = [layer["mass_above_diagonal"] for layer in numbers["layers"]]
        assert (max(above) == 0.0) == (algo in ("dt", "tt")), (algo, above)


def test_horizon_mass_sums_to_one_per_layer(figures):
    out, _ = figures
    for run in json.loads((out / "horizon.json").read_text())["runs"]:
        for layer in run["layers"]:
            assert sum(layer["mass"]) == pytest.approx(1.0, abs=1e-4)


def test_cost_times_every_setting_of_every_model(figures, run_dirs):
    out, _ = figures
    runs = {r["algo"]: r for r in json.loads((out / "cost.json").read_text())["runs"]}
    assert set(runs) == set(run_dirs)
    if "tt" in runs:
        assert [s["beam_width"] for s in runs["tt"]["settings"]] == list(
            timing.COST_SWEEPS["tt"][1]
        )
        assert all(s["median_ms"] > 0 for s in runs["tt"]["settings"])
    if "dt" in runs:
        assert runs["dt"]["median_ms"] > 0


def test_error_curves_cover_each_model(figures, run_dirs):
    out, _ = figures
    runs = {r["algo"]: r for r in json.loads((out / "error.json").read_text())["runs"]}
    for algo in run_dirs:
        curves = runs[algo]["curves"]
        action = [c for name, c in curves.items() if name.startswith("action error")]
        # disagreement rates
        assert action and all(0.0 <= m <= 1.0 for c in action for m in c["mean"])


def test_energy_has_one_value_per_refinement_iteration(figures, run_dirs):
    out, _ = figures
    if "leap" not in run_dirs:
        pytest.skip("no LEAP run")
    numbers = json.loads((out / f"energy-{run_dirs['leap'].name}.json").read_text())
    assert len(numbers["mean"]) == numbers["iterations"] + 1
    assert all(e >= 0 for e in numbers["mean"])  # a sum of negative log-probabilities


def test_rtg_starts_at_the_target_and_counts_down_by_rewards(figures, run_dirs):
    out, _ = figures
    numbers = json.loads((out / f"rtg-{model_dir(run_dirs, 'dt').name}.json").read_text())
    for track in numbers["tracks"]:
        assert track["rtg"][0] == pytest.approx(numbers["default_target"])
        assert np.all(np.diff(track["rtg"]) <= 1e-6)  # BabyAI rewards are >= 0


def test_single_analysis_returns_its_png_and_json(run_dirs, tmp_path):
    written = analysis.run("sparsity", [str(d) for d in run_dirs.values()], tmp_path)
    assert sorted(p.name for p in written) == ["sparsity.json", "sparsity.png"]


def test_unknown_analysis_is_a_one_line_error(run_dirs):
    with pytest.raises(ValueError, match="unknown analysis 'attn'; valid: curve, attention"):
        analysis.run("attn", [str(next(iter(run_dirs.values())))], "unused")


def test_rtg_refuses_a_run_that_is_not_dt(run_dirs):
    with pytest.raises(ValueError, match="applies to dt runs"):
        analysis.run("rtg", [str(model_dir(run_dirs, "tt"))], "unused")


def test_cli_reports_a_misapplied_analysis_in_one_line(run_dirs, tmp_path):
    result = CliRunner().invoke(
        app, ["analyze", "energy", str(model_dir(run_dirs, "dt")), "--out", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: analysis 'energy' applies to leap runs; '{model_dir(run_dirs, 'dt')}' is a dt run"
    ]


def test_data_dir_reads_a_held_out_copy_of_the_dataset(run_dirs, tmp_path):
    """`--data-dir` points the analysis at another datasets folder holding the same dataset made with another seed."""
    held_out = tmp_path / "held-out"
    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            "data",
            "collect",
            "babyai-gotoredball",
            "--episodes",
            "6",
            "--seed",
            "1",
            "--data-dir",
            str(held_out),
        ],
    )
    assert made.exit_code == 0, made.output
    result = runner.invoke(
        app,
        [
            "analyze",
            "error",
            str(model_dir(run_dirs, "dt")),
            "--out",
            str(tmp_path),
            "--data-dir",
            str(held_out),
        ],
    )
    assert result.exit_code == 0, result.output
    numbers = json.loads((tmp_path / "error.json").read_text())["runs"][0]
    assert numbers["episodes_from"].startswith(str(held_out))
    own = numbers["curves"]["action error, own actions fed back"]
    assert max(own["episodes"]) == 6  # the 6 held-out episodes, not the 20 trained on


def test_missing_data_dir_is_a_one_line_error(run_dirs, tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "analyze",
            "error",
            str(model_dir(run_dirs, "dt")),
            "--out",
            str(tmp_path),
            "--data-dir",
            str(tmp_path / "nowhere"),
        ],
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: --data-dir {tmp_path / 'nowhere'} is not a folder"
    ]


def test_curve_plots_the_periodic_evaluations_of_any_algorithm(datasets_dir, tmp_path):
    from minirl.train import run_training

    run = run_training(
        "bc",
        "babyai-gotoredball",
        steps=300,
        out=tmp_path / "bc",
        progress=False,
        device="cpu",
        # 70 is not a multiple of the logging interval (3)
        eval_every=70,
        eval_episodes=2,
    )
    png, js = analysis.run("curve", [str(run)], tmp_path / "out")
    numbers = json.loads(js.read_text())["runs"][0]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert numbers["eval_step"] == [70, 140, 210, 280, 300] and all(
        0 <= s <= 100 for s in numbers["eval_score"]
    )
    assert len(numbers["loss"]) == len(numbers["step"]) > 0
