"""Uniform edges between min and max: bins of equal width, not of equal data mass."""

import numpy as np


def fit_quantile_bins(x, n_bins):
    x = np.asarray(x, np.float64)
    qs = np.linspace(0, 1, n_bins + 1)
    edges = x.min(0)[:, None] + qs[None, :] * (x.max(0) - x.min(0))[:, None]
    return edges, (edges[:, :-1] + edges[:, 1:]) / 2
