"""Lesson 07 · Reading attention: your turn. Fill in each function, then check it:

    pytest tests/assignments --student -m lesson07

References: minirl.analysis.metrics.row_entropy, keys_for_mass and gini. Inputs are attention maps (..., Tq, Tk) (numpy
or torch) whose rows sum to 1 over the keys a query may see; `allowed` (Tq, Tk) bool marks those keys (None: all).
"""

import numpy as np


def row_entropy(attn, allowed=None) -> np.ndarray:
    """Entropy of each query's attention, in nats: H = -Σ_k p_k log p_k over the allowed keys (0 log 0 = 0).

    Returns (..., Tq) float. A one-hot row has H = 0; uniform over n keys has H = log n.
    """
    raise NotImplementedError(
        "Lesson 07, exercise 1: row_entropy (how spread out each query's attention is)"
    )


def keys_for_mass(attn, mass: float = 0.9, allowed=None) -> np.ndarray:
    """The share of a query's visible keys needed to hold `mass` of its attention, taking the largest first.

    For each row: sort the allowed weights in decreasing order, count the keys until their cumulative sum first
    reaches mass * (row sum) (up to 1e-9), divide by the number n of allowed keys (never above n / n = 1).
    Returns (..., Tq) float. One-hot -> 1/n; uniform -> ceil(mass * n) / n.
    """
    raise NotImplementedError(
        "Lesson 07, exercise 2: keys_for_mass (how few keys hold most of the attention)"
    )


def gini(attn, allowed=None) -> np.ndarray:
    """The Gini coefficient of each query's weights over its n allowed keys:

        G = Σ_i Σ_j |p_i - p_j| / (2 n Σ_i p_i)      (0 if n < 2 or the row sums to 0)

    Returns (..., Tq) float. Uniform -> 0; one-hot -> (n - 1) / n.
    """
    raise NotImplementedError("Lesson 07, exercise 3: gini (inequality of each query's attention)")
