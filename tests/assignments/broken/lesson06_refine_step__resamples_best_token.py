"""Re-masks the token with the LOWEST energy (the one the model is surest of) instead of the highest."""

import torch


def refine_step(log_p, plan):
    token_energy = -log_p.gather(-1, plan[..., None]).squeeze(-1)
    rows = torch.arange(plan.shape[0])
    i = token_energy.argmin(1)
    new = plan.clone()
    new[rows, i] = log_p[rows, i].argmax(-1)
    return new, token_energy.sum(1)
