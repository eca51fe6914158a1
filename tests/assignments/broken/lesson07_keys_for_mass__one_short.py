"""Counts the keys strictly below the mass: one key short of reaching it."""

import numpy as np


def keys_for_mass(attn, mass=0.9, allowed=None):
    p = np.asarray(attn, np.float64)
    n = np.full(p.shape[:-1], p.shape[-1]) if allowed is None else np.broadcast_to(allowed, p.shape).sum(-1)
    if allowed is not None:
        p = np.where(allowed, p, 0.0)
    cumulative = np.cumsum(-np.sort(-p, axis=-1), axis=-1)
    needed = np.maximum((cumulative < mass * p.sum(-1, keepdims=True) - 1e-9).sum(-1), 1)
    return np.minimum(needed, n) / n
