"""Lesson 04, solved."""

import numpy as np
import torch


def interleave_tokens(returns, states, actions):
    B, K, D = returns.shape
    out = returns.new_empty(B, 3 * K, D)
    out[:, 0::3], out[:, 1::3], out[:, 2::3] = returns, states, actions
    return out


def causal_mask(T, P=0):
    return torch.ones(T, P + T, dtype=torch.bool).tril(diagonal=P)


def update_return_to_go(rtg, rewards, finished, rtg_scale=1.0):
    new = np.asarray(rtg, np.float32).copy()
    running = ~np.asarray(finished, bool)
    new[running] -= np.asarray(rewards, np.float32)[running] / np.float32(rtg_scale)
    return new
