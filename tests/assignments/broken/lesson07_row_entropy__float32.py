"""Computes every entropy in float32: float64 maps lose half their digits."""

import numpy as np

CLASS = "dtype"


def row_entropy(attn, allowed=None):
    p = np.asarray(attn, np.float32)
    if allowed is not None:
        p = np.where(allowed, p, np.float32(0))
    return -(p * np.log(np.where(p > 0, p, np.float32(1)))).sum(-1)
