"""Lesson 02, solved: a hand-written stable log-sum-exp (max shift) and a torch.where expectile weight."""

import torch


def cql_penalty(q_sampled, q_data):
    m = q_sampled.max(dim=1, keepdim=True).values.detach()
    lse = m.squeeze(1) + torch.log(torch.exp(q_sampled - m).sum(dim=1))
    return (lse - q_data).mean()


def expectile_loss(diff, tau):
    weight = torch.where(diff < 0, torch.full_like(diff, 1 - tau), torch.full_like(diff, tau))
    return (weight * diff * diff).mean()
