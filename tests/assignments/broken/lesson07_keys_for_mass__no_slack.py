"""Counts keys until the cumulative sum reaches mass exactly, with no slack for rounding: 0.7 + 0.2 is
0.8999999999999999 in float64, so it takes a third key for a mass of 0.9."""

import numpy as np

CLASS = "numerics"


def keys_for_mass(attn, mass=0.9, allowed=None):
    p = np.asarray(attn, np.float64)
    n = np.full(p.shape[:-1], p.shape[-1]) if allowed is None else np.broadcast_to(allowed, p.shape).sum(-1)
    if allowed is not None:
        p = np.where(allowed, p, 0.0)
    cumulative = np.cumsum(-np.sort(-p, axis=-1), axis=-1)
    needed = (cumulative < mass * p.sum(-1, keepdims=True)).sum(-1) + 1
    return np.minimum(needed, n) / n
