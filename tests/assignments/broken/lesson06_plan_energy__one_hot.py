"""Picks each token's log-probability by multiplying with a one-hot mask: when the model rules an action out
(log p = -inf) that the plan does not take, 0 * -inf = nan poisons the sum. gather never reads those entries."""

import torch.nn.functional as F

CLASS = "numerics"


def plan_energy(log_p, plan):
    one_hot = F.one_hot(plan, log_p.shape[-1]).to(log_p.dtype)
    return -(log_p * one_hot).sum(dim=(1, 2))
