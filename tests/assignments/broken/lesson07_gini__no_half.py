"""Forgets the 1/2 in Σ|p_i - p_j| / (2 n Σ p): one-hot rows score 2(n-1)/n instead of (n-1)/n."""

import numpy as np


def gini(attn, allowed=None):
    p = np.asarray(attn, np.float64)
    mask = np.ones(p.shape, bool) if allowed is None else np.broadcast_to(allowed, p.shape)
    out = np.zeros(p.shape[:-1])
    for index in np.ndindex(*p.shape[:-1]):
        x = p[index][mask[index]]
        if len(x) > 1 and x.sum() > 0:
            out[index] = np.abs(x[:, None] - x[None, :]).sum() / (len(x) * x.sum())
    return out
