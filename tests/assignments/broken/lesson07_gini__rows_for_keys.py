"""Takes n, the number of keys, from shape[-2] (the queries): the same number in every square map, wrong as soon as
a KV cache makes Tq < Tk."""

import numpy as np

CLASS = "contract"


def gini(attn, allowed=None):
    p = np.asarray(attn, np.float64)
    if allowed is not None:
        p = np.where(allowed, p, 0.0)
    n = np.asarray(allowed).sum(-1) if allowed is not None else p.shape[-2]
    ascending = np.sort(np.where(np.broadcast_to(allowed, p.shape) if allowed is not None else True, p, np.inf), -1)
    ascending = np.where(np.isfinite(ascending), ascending, 0.0)
    i = np.arange(1, p.shape[-1] + 1)
    w = np.where(i <= np.asarray(n)[..., None], 2 * i - np.asarray(n)[..., None] - 1, 0)
    total = p.sum(-1)
    g = (w * ascending).sum(-1) / np.maximum(n * total, 1e-12)
    return np.where((np.asarray(n) > 1) & (total > 0), g, 0.0)
