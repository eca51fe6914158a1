"""Shifts log Σ exp by the row's MIN instead of its max: stable while a state's Q-values are close together (every
old case), but exp(q - min) overflows once they spread over more than ~700 (float64) or ~88 (float32)."""

import torch

CLASS = "numerics"


def cql_penalty(q_sampled, q_data):
    m = q_sampled.min(dim=1, keepdim=True).values
    lse = m.squeeze(1) + torch.log(torch.exp(q_sampled - m).sum(dim=1))
    return (lse - q_data).mean()
