"""Lesson 05 · Trajectory Transformer: your turn. Fill in each function, then check it:

    pytest tests/assignments --student -m lesson05

References: minirl.tokenizer.Discretizer (fit with kind='quantile', encode, decode) and the selection at the end of
minirl.tt.expand_beams. Shapes: N data points, D dimensions, n_bins bins per dimension.
"""

import numpy as np
import torch


def fit_quantile_bins(x: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Fit TT's quantile discretizer.

    Args:
        x: (N, D) training values.
        n_bins: bins per dimension.
    Returns:
        edges (D, n_bins + 1): per dimension, the data's quantiles at 0, 1/n_bins, …, 1 (np.quantile's default
            linear interpolation), so every bin holds ~1/n_bins of the data;
        centers (D, n_bins) float64: each bin's representative value, the mean of the training values that fall
            in it (assigned as `discretize` does), or the midpoint of its two edges if none does.
    """
    raise NotImplementedError(
        "Lesson 05, exercise 1: fit_quantile_bins (edges at quantiles, centers at bin means)"
    )


def discretize(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Values -> bin ids, dimension by dimension.

    Args:
        x: (..., D) floats (any leading shape).
        edges: (D, n_bins + 1) from fit_quantile_bins.
    Returns:
        (..., D) int64 in [0, n_bins): bin k holds edges[d, k] <= x < edges[d, k + 1]; a value equal to an inner
        edge goes to the bin ABOVE it; values below the first / above the last edge clip to bin 0 / n_bins - 1.
    """
    raise NotImplementedError("Lesson 05, exercise 2: discretize (which bin each value falls in)")


def undiscretize(idx: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Bin ids -> representative values.

    Args:
        idx: (..., D) int bin ids.
        centers: (D, n_bins) from fit_quantile_bins.
    Returns:
        (..., D) float64 with out[..., d] = centers[d, idx[..., d]].
    """
    raise NotImplementedError(
        "Lesson 05, exercise 3: undiscretize (each bin's representative value)"
    )


def beam_step(rewards: torch.Tensor, n_envs: int, beam_width: int, discount: float):
    """The selection of one beam-search step: score every candidate plan, keep the best of each env.

    Args:
        rewards: (n_envs·C, H+1) one row per candidate, env-major (env e owns rows e·C … e·C + C - 1). Columns are
            the plan's expected rewards r_0 … r_t, then its value V_t, then zeros.
        n_envs: environments planned for together; beam_width: K, candidates kept per env (K <= C);
        discount: γ.
    Returns:
        keep: (n_envs·K,) int64 row indices into `rewards`, env-major, best first within each env;
        scores: (n_envs, K) the kept candidates' scores Σ_h γ^h rewards[row, h], best first.
        Tied candidates: any of them may be kept.
    """
    raise NotImplementedError(
        "Lesson 05, exercise 4: beam_step (score candidates, keep the best K per env)"
    )
