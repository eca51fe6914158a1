"""Entropy in bits (log2) where the analyses report nats."""

import numpy as np


def row_entropy(attn, allowed=None):
    p = np.asarray(attn, np.float64)
    if allowed is not None:
        p = np.where(allowed, p, 0.0)
    return -(p * np.log2(np.where(p > 0, p, 1.0))).sum(-1)
