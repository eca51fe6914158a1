"""Lesson 05, solved with np.digitize and boolean masks instead of searchsorted and bincount."""

import numpy as np
import torch


def fit_quantile_bins(x, n_bins):
    x = np.asarray(x, np.float64)
    edges = np.quantile(x, np.linspace(0, 1, n_bins + 1), axis=0).T  # (D, n_bins + 1)
    idx = discretize(x, edges)
    centers = (edges[:, :-1] + edges[:, 1:]) / 2
    for d in range(x.shape[1]):
        for k in range(n_bins):
            inside = x[idx[:, d] == k, d]
            if inside.size:
                centers[d, k] = inside.mean()
    return edges, centers


def discretize(x, edges):
    x = np.asarray(x)
    out = np.empty(x.shape, np.int64)
    for d in range(edges.shape[0]):
        out[..., d] = np.clip(
            np.digitize(x[..., d], edges[d, 1:-1], right=False), 0, edges.shape[1] - 2
        )
    return out


def undiscretize(idx, centers):
    return np.stack([centers[d][idx[..., d]] for d in range(centers.shape[0])], axis=-1).astype(
        np.float64
    )


def beam_step(rewards, n_envs, beam_width, discount):
    H1 = rewards.shape[1]
    gammas = torch.tensor([discount**h for h in range(H1)], dtype=rewards.dtype)
    scores = (rewards * gammas).sum(1).reshape(n_envs, -1)  # (n, C)
    order = torch.argsort(scores, dim=1, descending=True, stable=True)[:, :beam_width]
    C = scores.shape[1]
    keep = (order + C * torch.arange(n_envs)[:, None]).reshape(-1)
    return keep, torch.gather(scores, 1, order)
