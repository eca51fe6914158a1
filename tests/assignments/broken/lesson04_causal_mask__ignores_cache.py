"""Forgets the P cached tokens: new queries are treated as positions 0..T-1."""

import torch


def causal_mask(T, P=0):
    return torch.ones(T, P + T, dtype=torch.bool).tril()
