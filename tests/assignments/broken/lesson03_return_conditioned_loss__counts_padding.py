"""Averages over every position of the window, left padding included."""

import torch
import torch.nn.functional as F


def return_conditioned_loss(action_preds, actions, mask):
    if not torch.is_floating_point(actions):
        return F.cross_entropy(action_preds.flatten(0, 1), actions.flatten())
    return ((action_preds - actions) ** 2).mean()
