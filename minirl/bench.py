"""Benchmarks behind `minirl bench`: how fast the models train and act on this machine, and how well they score.

These are measurements, not tests: they take minutes, and their numbers go into docs/results.md with the command,
machine and date. `--quick` shrinks every size and repeat so the code paths can be smoke-tested: it is not a
measurement, and still takes about 35 CPU-seconds (35 s of user time in a 2-core sandbox, 2026-12-02).

speed:
  - DT training samples/s (paper size: 3 layers, 1 head, 128 wide, K = 20, batch 64, HalfCheetah shapes) next to
    Hugging Face `transformers`' DecisionTransformerModel of the same size, timed in the same run (optional
    dependency: `pip install minirl[bench]`);
  - the FLOPs of one DT training step (counted by torch's FlopCounterMode) over the machine's measured matmul peak;
  - DT acting cost per env step with N envs batched;
  - TT planning cost per step vs beam width (cached planner vs uncached reference), LEAP cost vs iterations;
  - TT CPU seconds per decision at the paper's HalfCheetah settings for 1 and 10 envs against its floor: the matmul
    FLOPs the search must do (tt.plan_flops) over the matmul peak, both in process CPU time.
quality: `minirl compare` over seeds on the given datasets, under a stated training budget.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from minirl.tokenizer import Normalizer, Tokenizer


def _timeit(fn, repeats: int, warmup: int = 3) -> float:
    """Median seconds per call."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def matmul_peak_flops(n: int = 1024, repeats: int = 10) -> float:
    """Measured float32 FLOP/s of a large square matmul: the most this CPU does on the work transformers do."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / _timeit(lambda: a @ b, repeats)


def cpu_matmul_peak_flops(n: int = 1024, repeats: int = 10) -> float:
    """matmul_peak_flops in this process's CPU time (time.process_time), to divide FLOPs timed the same way: on a
    shared machine wall time also counts the other processes' turns."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        a @ b
        times.append(time.process_time() - t0)
    return 2 * n**3 / float(np.median(times))


def halfcheetah_tokenizer() -> Tokenizer:
    return Tokenizer(
        "halfcheetah", False, 6, Normalizer(np.zeros(17), np.ones(17)), rtg_scale=1000.0
    )


def dt_batch(B: int, K: int, S: int = 17, A: int = 6) -> dict:
    g = torch.Generator().manual_seed(0)
    return {
        "rtg": torch.rand(B, K, generator=g),
        "states": torch.randn(B, K, S, generator=g),
        "actions": torch.rand(B, K, A, generator=g) * 2 - 1,
        "timesteps": torch.arange(K).repeat(B, 1),
        "mask": torch.ones(B, K, dtype=torch.bool),
    }


def dt_train_speed(batch_size: int, repeats: int) -> dict:
    """Samples/s of one minirl DT training step (forward, loss, backward, AdamW) and its FLOP/s."""
    from torch.utils.flop_counter import FlopCounterMode

    from minirl import dt
    from minirl.train import make_optimizer

    cfg = dt.Config(batch_size=batch_size)
    model = dt.Model(cfg, halfcheetah_tokenizer()).train()
    opt = make_optimizer(model, cfg.lr, cfg.weight_decay)
    batch = dt_batch(batch_size, cfg.context_len)

    def step():
        loss = model.loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()

    seconds = _timeit(step, repeats)
    with FlopCounterMode(display=False) as counter:
        loss = model.loss(batch)
        loss.backward()
    return {
        "seconds_per_step": seconds,
        "samples_per_s": batch_size / seconds,
        "flops_per_step": counter.get_total_flops(),
        "params": sum(p.numel() for p in model.parameters()),
    }


def hf_dt_train_speed(batch_size: int, repeats: int) -> dict | None:
    """The same step for transformers' DecisionTransformerModel (3 layers, 1 head, 128 wide, K = 20)."""
    try:
        from transformers import DecisionTransformerConfig, DecisionTransformerModel
    except ImportError:
        return None
    K = 20
    config = DecisionTransformerConfig(
        state_dim=17,
        act_dim=6,
        hidden_size=128,
        n_layer=3,
        n_head=1,
        n_inner=4 * 128,
        max_ep_len=1000,
        n_positions=3 * K,
        resid_pdrop=0.1,
        embd_pdrop=0.1,
        attn_pdrop=0.1,
        activation_function="relu",
    )
    model = DecisionTransformerModel(config).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=1e-4)
    b = dt_batch(batch_size, K)
    mask = b["mask"].long()

    def step():
        out = model(
            states=b["states"],
            actions=b["actions"],
            rewards=torch.zeros(batch_size, K, 1),
            returns_to_go=b["rtg"][..., None],
            timesteps=b["timesteps"],
            attention_mask=mask,
        )
        loss = ((out.action_preds - b["actions"]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        opt.step()

    seconds = _timeit(step, repeats)
    return {
        "seconds_per_step": seconds,
        "samples_per_s": batch_size / seconds,
        "params": sum(p.numel() for p in model.parameters()),
    }


def dt_act_speed(n_envs: int, repeats: int) -> dict:
    """Seconds per decision for N envs at once, with a full K = 20 context (the steady state of an episode)."""
    from minirl import dt

    tok = halfcheetah_tokenizer()
    model = dt.Model(dt.Config(), tok).eval()
    agent = dt.Agent(model, tok, target_return=6000.0)
    agent.reset(n_envs)
    states = np.random.default_rng(0).normal(size=(n_envs, 17)).astype(np.float32)
    for _ in range(20):
        agent.act(states)
        agent.observe(np.zeros(n_envs), np.zeros(n_envs, bool))
    seconds = _timeit(lambda: agent.act(states), repeats)
    return {
        "n_envs": n_envs,
        "seconds_per_decision_step": seconds,
        "env_steps_per_s": n_envs / seconds,
    }


def speed(out: Path, quick: bool = False, console=None) -> dict:
    torch.manual_seed(0)
    repeats = 3 if quick else 20
    result = {
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "matmul_peak_flops": matmul_peak_flops(256 if quick else 1024, repeats),
    }
    result["dt_train"] = dt_train_speed(64, repeats)
    result["dt_train"]["fraction_of_matmul_peak"] = (
        result["dt_train"]["flops_per_step"]
        / result["dt_train"]["seconds_per_step"]
        / result["matmul_peak_flops"]
    )
    result["hf_dt_train"] = hf_dt_train_speed(64, repeats)
    result["dt_act"] = [dt_act_speed(n, repeats) for n in ((1, 10) if quick else (1, 10, 50))]
    result.update(_planner_costs(quick))
    (out / "speed.json").write_text(json.dumps(result, indent=1))
    if console is not None:
        _print_speed(result, console)
    _plot_costs(result, out / "cost_vs_beam_width.png")
    return result


def _planner_costs(quick: bool) -> dict:
    """TT's planning cost vs beam width, cached vs uncached (LEAP's cost vs iterations is `minirl analyze cost`), and
    TT's CPU seconds per decision at the paper's settings against its FLOP floor (peak timed the same way)."""
    from minirl import tt

    return {
        "tt_plan": tt.bench_plan_cost(quick=quick),
        "tt_plan_floor": tt.bench_plan_floor(
            lambda: cpu_matmul_peak_flops(256 if quick else 1024), quick=quick
        ),
    }


def _print_speed(result: dict, console) -> None:
    from rich.markup import escape

    from minirl.display import table as make_table

    table = make_table("measurement", "value", title="minirl bench speed")
    table.add_row("matmul peak (float32)", f"{result['matmul_peak_flops'] / 1e9:.1f} GFLOP/s")
    d = result["dt_train"]
    table.add_row(
        "DT train step (batch 64, K 20)",
        f"{d['samples_per_s']:.0f} samples/s ({1000 * d['seconds_per_step']:.1f} ms/step)",
    )
    table.add_row(
        "DT train step FLOP/s / matmul peak", f"{100 * d['fraction_of_matmul_peak']:.1f}%"
    )
    h = result["hf_dt_train"]
    table.add_row(
        "transformers DT train step",
        # escaped: rich would read "[bench]" as markup and print "pip install minirl"
        escape("not installed (pip install 'minirl[bench]')")
        if h is None
        else f"{h['samples_per_s']:.0f} samples/s ({1000 * h['seconds_per_step']:.1f} ms/step)",
    )
    for a in result["dt_act"]:
        table.add_row(
            f"DT act, {a['n_envs']} envs batched", f"{a['env_steps_per_s']:.0f} env steps/s"
        )
    for row in result.get("tt_plan", {}).get("rows", []):
        table.add_row(f"tt_plan {row.get('label', '')}", f"{row['ms_per_step']:.1f} ms/step")
    for row in result.get("tt_plan_floor", []):
        table.add_row(
            f"TT decision, {row['n_envs']} env(s), K={row['beam_width']}, H={row['horizon']}",
            f"{row['seconds']:.2f} CPU-s, floor {row['floor_s']:.2f} s ({row['flops'] / 1e9:.1f} GFLOP), "
            f"{row['ratio']:.1f}× floor",
        )
    console.print(table)


def _plot_costs(result: dict, path: Path) -> None:
    if "tt_plan" not in result:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for kind in ("cached", "uncached"):
        rows = [r for r in result["tt_plan"]["rows"] if r.get("kind") == kind]
        if rows:
            ax.plot(
                [r["beam_width"] for r in rows],
                [r["ms_per_step"] for r in rows],
                "o-",
                label=f"TT {kind}",
            )
    dt_ms = 1000 * result["dt_act"][0]["seconds_per_decision_step"]
    ax.axhline(dt_ms, color="gray", ls="--", label="DT (one forward)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("beam width K")
    ax.set_ylabel("planning cost per env step (ms)")
    ax.set_title("Cost per decision vs beam width (HalfCheetah shapes, this CPU)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run(kind: str, out: Path, quick: bool = False, console=None, **quality_options) -> dict:
    if kind == "speed":
        return speed(out, quick, console)
    if kind == "quality":
        from minirl import compare

        opts = dict(
            datasets=["halfcheetah-medium", "babyai-gotolocal"], algos=["dt", "tt", "leap"], seeds=3
        )
        opts.update({k: v for k, v in quality_options.items() if v is not None})
        return compare.run(
            opts.pop("datasets"),
            opts.pop("algos"),
            opts.pop("seeds"),
            out=out,
            runs_dir=Path("runs/bench"),
            console=console,
            **opts,
        )
    raise ValueError(f"unknown benchmark '{kind}'; valid: speed, quality")
