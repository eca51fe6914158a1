"""Finds the worst token in float32: two token energies 1e-9 apart in float64 become a tie, and the first one is
resampled instead of the true highest-energy token."""

import torch

CLASS = "numerics"


def refine_step(log_p, plan):
    token_energy = -log_p.gather(-1, plan[..., None]).squeeze(-1)
    worst = token_energy.float().argmax(1)
    rows = torch.arange(plan.shape[0])
    new_plan = plan.clone()
    new_plan[rows, worst] = log_p[rows, worst].float().argmax(-1)
    return new_plan, token_energy.sum(1)
