"""Keeps the beam_width WORST candidates of each env."""

import torch


def beam_step(rewards, n_envs, beam_width, discount):
    gammas = discount ** torch.arange(rewards.shape[1], dtype=rewards.dtype)
    candidates = (rewards * gammas).sum(-1).view(n_envs, -1)
    scores, best = candidates.topk(beam_width, dim=1, largest=False)
    return (best + torch.arange(n_envs)[:, None] * candidates.shape[1]).flatten(), scores
