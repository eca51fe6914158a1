"""Concatenates whole blocks (all R̂, then all s, then all a) instead of interleaving step by step."""

import torch


def interleave_tokens(returns, states, actions):
    return torch.cat([returns, states, actions], dim=1)
