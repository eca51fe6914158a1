"""Divides by every key of the row, not by the keys the query may see (wrong for causal maps)."""

import numpy as np


def keys_for_mass(attn, mass=0.9, allowed=None):
    p = np.asarray(attn, np.float64)
    if allowed is not None:
        p = np.where(allowed, p, 0.0)
    cumulative = np.cumsum(-np.sort(-p, axis=-1), axis=-1)
    needed = (cumulative < mass * p.sum(-1, keepdims=True) - 1e-9).sum(-1) + 1
    return needed / p.shape[-1]
