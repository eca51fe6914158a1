"""Valid: searchsorted on the inner edges, any leading shape via reshape."""

import numpy as np


def discretize(x, edges):
    x = np.asarray(x)
    flat = x.reshape(-1, x.shape[-1])
    cols = [
        np.searchsorted(edges[d, 1:-1], flat[:, d], side="right") for d in range(edges.shape[0])
    ]
    idx = np.stack(cols, axis=1) if cols else flat.astype(np.int64)
    return np.clip(idx, 0, edges.shape[1] - 2).reshape(x.shape).astype(np.int64)
