"""Pure functions on attention maps: (..., Tq, Tk) arrays whose rows sum to 1 over the keys a query may see.

Definitions (query = the token whose output is read, key = a token it may attend to; a row of a map sums to 1):
    entropy          H = -Σ_k p_k log p_k (nats) over the keys a query may see; uniform over n keys gives log n
    share90          smallest fraction of a query's visible keys whose weights sum to >= 0.9 (lower = sparser)
    Gini             Σ_i Σ_j |p_i - p_j| / (2 n Σ p) over the n visible keys: 0 uniform, (n-1)/n one-hot
    distance         query timestep - key timestep (0 = same step, > 0 the past, < 0 the future)
"""

from __future__ import annotations

import numpy as np
import torch

RECENT = 3  # steps back that still count as "recent" in attention-by-type
# a head whose mean entropy is below this fraction of the uniform entropy is "specialized"
SPECIALIZED = 0.5
GENERALIST = 0.8  # ... above this fraction, a "generalist"


def as_numpy(x) -> np.ndarray:
    """A tensor (any dtype, device) as a float32 numpy array; anything else as a float64 one."""
    return (
        x.detach().float().cpu().numpy()
        if isinstance(x, torch.Tensor)
        else np.asarray(x, np.float64)
    )


def causal_allowed(T: int) -> np.ndarray:
    """(T, T) bool, True where a causal query may see a key (key <= query)."""
    return np.tril(np.ones((T, T), bool))


def row_entropy(attn, allowed=None) -> np.ndarray:
    """(..., Tq, Tk) -> (..., Tq) entropy in nats of each query's attention; 0 log 0 counts as 0."""
    p = as_numpy(attn)
    if allowed is not None:
        p = np.where(allowed, p, 0.0)
    logp = np.log(np.where(p > 0, p, 1.0))
    return -(p * logp).sum(-1)


def keys_for_mass(attn, mass: float = 0.9, allowed=None) -> np.ndarray:
    """(..., Tq, Tk) -> (..., Tq) share of each query's visible keys needed to hold `mass` of its attention.

    The keys are taken largest first; the share is (number needed) / (number visible). One-hot -> 1/n, uniform ->
    ceil(mass * n) / n.
    """
    p = as_numpy(attn)
    n = (
        np.full(p.shape[:-1], p.shape[-1])
        if allowed is None
        else np.broadcast_to(allowed, p.shape).sum(-1)
    )
    if allowed is not None:
        p = np.where(allowed, p, 0.0)
    cumulative = np.cumsum(-np.sort(-p, axis=-1), axis=-1)
    # first index reaching the mass
    needed = (cumulative < mass * p.sum(-1, keepdims=True) - 1e-9).sum(-1) + 1
    return np.minimum(needed, n) / n


def gini(attn, allowed=None) -> np.ndarray:
    """(..., Tq, Tk) -> (..., Tq) Gini coefficient of each query's weights over its n visible keys.

    Computed as Σ_i (2i - n - 1) x_(i) / (n Σ x) over the weights sorted ascending, the same number as
    Σ_i Σ_j |x_i - x_j| / (2 n Σ x); 0 for a query with one visible key."""
    p = as_numpy(attn)
    mask = np.ones(p.shape, bool) if allowed is None else np.broadcast_to(allowed, p.shape)
    ascending = np.sort(np.where(mask, p, np.inf), axis=-1)  # hidden keys sort last
    n = mask.sum(-1, keepdims=True)  # (..., Tq, 1)
    i = np.arange(1, p.shape[-1] + 1)
    weights = np.where(i <= n, 2 * i - n - 1, 0)
    values = np.where(np.isfinite(ascending), ascending, 0.0)
    total = values.sum(-1)
    out = (weights * values).sum(-1) / np.maximum(n[..., 0] * total, 1e-12)
    return np.where((n[..., 0] > 1) & (total > 0), out, 0.0)


def distance_mass(attn, query_steps, key_steps, queries=None, allowed=None) -> dict[int, float]:
    """Mean over queries of the attention mass at each timestep distance d = query step - key step.

    attn (Tq, Tk) one map (e.g. mean over heads); query_steps (Tq,), key_steps (Tk,) timesteps of the tokens;
    queries: the query rows to average over (default all); allowed (Tq, Tk): the keys each query may see (default
    all); only distances some chosen query can see are reported. The values sum to 1 (every row does).
    """
    p = as_numpy(attn)
    rows = np.arange(p.shape[0]) if queries is None else np.asarray(queries)
    distance = np.asarray(query_steps)[rows, None] - np.asarray(key_steps)[None, :]  # (Q, Tk)
    visible = np.ones(distance.shape, bool) if allowed is None else np.asarray(allowed)[rows]
    out: dict[int, float] = {}
    for d in np.unique(distance[visible]):
        out[int(d)] = float((p[rows] * (distance == d)).sum(-1).mean())
    return out


def group_shares(attn_row, groups, names) -> np.ndarray:
    """One query's attention (Tk,) summed per group: groups (Tk,) labels -> (len(names),) shares (sum to 1)."""
    row, groups = as_numpy(attn_row), np.asarray(groups)
    return np.array([row[groups == name].sum() for name in names])


def age_groups(query_step: int, key_steps) -> np.ndarray:
    """Each key's age relative to the query's step: 'current', 'recent' (1..RECENT back), 'old', 'future'."""
    d = query_step - np.asarray(key_steps)
    return np.where(
        d == 0, "current", np.where(d < 0, "future", np.where(d <= RECENT, "recent", "old"))
    )


def head_entropy_summary(maps: list, allowed) -> dict:
    """maps: L arrays (N, H, T, T) or (H, T, T); allowed (.., T, T). Per layer and head: mean entropy (nats), the
    mean uniform entropy log n over the same queries, their ratio, and the head's class. Queries that can see only
    one key (a causal model's first token) are left out: their entropy is 0 whatever the model learned."""
    layers = []
    for layer_maps in maps:
        p = as_numpy(layer_maps)
        p = p.reshape(-1, *p.shape[-3:])  # (N, H, T, T)
        a = np.broadcast_to(allowed, (p.shape[0], 1) + p.shape[-2:])
        n = a.sum(-1)  # (N, 1, T)
        keep = np.broadcast_to(n >= 2, p.shape[:-1])  # (N, H, T)
        entropy = row_entropy(p, a)
        uniform = np.broadcast_to(np.log(np.maximum(n, 1)), p.shape[:-1])
        heads = []
        for h in range(p.shape[1]):
            e, u = entropy[:, h][keep[:, h]], uniform[:, h][keep[:, h]]
            ratio = float(e.mean() / u.mean()) if len(u) and u.mean() > 0 else float("nan")
            heads.append(
                {
                    "entropy": float(e.mean()),
                    "entropy_std": float(e.std()),
                    "uniform": float(u.mean()),
                    "ratio": ratio,
                    "class": head_class(ratio),
                }
            )
        layers.append(heads)
    return {"layers": layers, "specialized_below": SPECIALIZED, "generalist_above": GENERALIST}


def head_class(ratio: float) -> str:
    """A head by its mean entropy relative to uniform: "specialized" (< SPECIALIZED), "generalist" (> GENERALIST),
    else "mixed" (a nan ratio, no query with a choice, is "mixed")."""
    return "specialized" if ratio < SPECIALIZED else "generalist" if ratio > GENERALIST else "mixed"
