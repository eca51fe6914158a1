"""LEAP's energy minimization: the plan energy E(τ) after each refinement iteration, over held-out start states."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from minirl.analysis.common import Run, figure, run_info, save, suptitle
from minirl.envs import make_env
from minirl.evaluate import EnvLoop


@torch.no_grad()
def held_out_states(run: Run, n_envs: int = 16, steps: int = 4, seed: int = 10_000) -> np.ndarray:
    """States the run's own agent visits from env seeds that the datasets do not use (seed, seed+1, ...), the first
    `steps` decisions of n_envs episodes: (N, S) encoded as tok.encode_obs does."""
    loop = EnvLoop(
        run.module.Agent(run.model, run.tok),
        [make_env(run.env, obs=run.tok.obs) for _ in range(n_envs)],
        seed,
        run.tok.encode_obs,
    )
    states = []
    for _ in range(steps):
        loop.step()
        states.append(loop.states[loop.live])
        if loop.done.all():
            break
    loop.close()
    return np.concatenate(states)


@torch.no_grad()
def energy(run: Run, out: Path, iterations: int | None = None) -> list[Path]:
    """LEAP: E(τ) of the plan after each refinement iteration, mean and band over held-out states."""
    states = torch.as_tensor(held_out_states(run))
    iterations = iterations if iterations is not None else 3 * run.cfg.iterations
    # (N, iterations+1)
    _, energies = run.model.plan(states, None, iterations, torch.Generator().manual_seed(0))
    e = energies.numpy()
    configured = run.cfg.iterations
    mean, std = e.mean(0), e.std(0)
    ci = 1.96 * e.std(0, ddof=1) / np.sqrt(len(e)) if len(e) > 1 else np.zeros_like(mean)
    fig, axes = figure(1, 1, width=6.0, height=4.0)
    ax = axes[0, 0]
    x = np.arange(len(mean))
    ax.plot(x, mean, marker="o", ms=3, label=f"mean over {len(e)} held-out states")
    ax.fill_between(x, mean - std, mean + std, alpha=0.15, label="± 1 std")
    ax.fill_between(x, mean - ci, mean + ci, alpha=0.35, label="95% CI of the mean")
    ax.axvline(
        run.cfg.iterations,
        color="k",
        ls=":",
        lw=1,
        label=f"configured iterations ({run.cfg.iterations})",
    )
    ax.set_xlabel("refinement iteration (0 = the plan predicted from all-[MASK])")
    ax.set_ylabel("plan energy E(τ) = −Σ log p(a_i | s, τ₋ᵢ) (nats)")
    ax.legend(fontsize=7)
    suptitle(
        fig,
        run.title(
            f"Energy minimization (horizon {run.cfg.horizon}, resample '{run.cfg.resample}')"
        ),
    )
    numbers = dict(
        run_info(run),
        states=len(e),
        iterations=iterations,
        mean=mean,
        std=std,
        ci95=ci,
        median=np.median(e, 0),
        drop=float(mean[0] - mean[-1]),
        configured_iterations=run.cfg.iterations,
        share_of_states_lower_at_configured=float(
            (e[:, min(configured, iterations)] < e[:, 0]).mean()
        ),
        share_of_states_lower_at_end=float((e[:, -1] < e[:, 0]).mean()),
    )
    return save(fig, numbers, out, f"energy-{run.path.name}")
