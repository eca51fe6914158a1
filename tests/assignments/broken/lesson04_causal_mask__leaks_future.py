"""Transposed: each query sees the keys AFTER it, a mask that leaks the future."""

import torch


def causal_mask(T, P=0):
    q_pos = torch.arange(P, P + T)[:, None]
    k_pos = torch.arange(P + T)[None, :]
    return k_pos >= q_pos
