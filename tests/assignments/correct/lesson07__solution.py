"""Lesson 07, solved; gini with the pairwise formula of the docstring (O(n²), valid)."""

import numpy as np


def _p(attn, allowed):
    p = np.asarray(attn.detach().cpu().numpy() if hasattr(attn, "detach") else attn)
    mask = (
        np.ones(p.shape, bool)
        if allowed is None
        else np.broadcast_to(np.asarray(allowed, bool), p.shape)
    )
    return np.where(mask, p, 0.0), mask


def row_entropy(attn, allowed=None):
    p, _ = _p(attn, allowed)
    safe = np.where(p > 0, p, 1.0)
    return -(p * np.log(safe)).sum(-1)


def keys_for_mass(attn, mass=0.9, allowed=None):
    p, mask = _p(attn, allowed)
    n = mask.sum(-1)
    cumulative = np.cumsum(np.sort(p, axis=-1)[..., ::-1], axis=-1)
    target = mass * p.sum(-1, keepdims=True) - 1e-9
    needed = np.argmax(cumulative >= target, axis=-1) + 1
    return np.minimum(needed, n) / n


def gini(attn, allowed=None):
    p, mask = _p(attn, allowed)
    n = mask.sum(-1)
    pairwise = np.abs(p[..., :, None] - p[..., None, :])
    both = mask[..., :, None] & mask[..., None, :]
    total = p.sum(-1)
    g = np.where(both, pairwise, 0.0).sum((-1, -2)) / np.maximum(2 * n * total, 1e-300)
    return np.where((n > 1) & (total > 0), g, 0.0)
