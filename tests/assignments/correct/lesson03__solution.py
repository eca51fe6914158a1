"""Lesson 03, solved: a backward loop accumulating in float32 (valid: the contract's output is float32)."""

import numpy as np
import torch
import torch.nn.functional as F


def returns_to_go(rewards, gamma=1.0):
    out = np.zeros(len(rewards), np.float32)
    running = np.float32(0.0)
    for t in reversed(range(len(rewards))):
        running = np.float32(rewards[t]) + np.float32(gamma) * running
        out[t] = running
    return out


def return_conditioned_loss(action_preds, actions, mask):
    if actions.dtype in (torch.int64, torch.int32):
        losses = F.cross_entropy(action_preds.transpose(1, 2), actions, reduction="none")  # (B, K)
        return losses[mask].mean()
    err = (action_preds - actions) ** 2  # (B, K, A)
    return err[mask].sum() / (mask.sum() * actions.shape[-1])
