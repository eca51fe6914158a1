"""Builds the stream in a new float32 tensor whatever the inputs' dtype: float64 embeddings come back rounded."""

import torch

CLASS = "dtype"


def interleave_tokens(returns, states, actions):
    B, K, D = returns.shape
    out = torch.zeros(B, 3 * K, D)
    out[:, 0::3], out[:, 1::3], out[:, 2::3] = returns, states, actions
    return out
