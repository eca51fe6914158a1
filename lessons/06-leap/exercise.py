"""Lesson 06 · LEAP: your turn. Fill in each function, then check it:

    pytest tests/assignments --student -m lesson06

References: minirl.leap.Model.energy and Model.refine_step (resample='max_energy', temperature 0), as twins
that take the model's conditionals as input. Shapes: B plans, L plan tokens, V action vocabulary.
"""

import torch


def plan_energy(log_p: torch.Tensor, plan: torch.Tensor) -> torch.Tensor:
    """The energy of each plan: E(τ) = - Σ_i log p(a_i | s, τ_-i).

    Args:
        log_p: (B, L, V) log p(a_i = v | s, τ_-i) for every position i and action v (leap.Model.conditionals).
        plan: (B, L) int64 action ids.
    Returns:
        (B,) energies in nats (>= 0; lower = a plan the model finds more coherent).
    """
    raise NotImplementedError(
        "Lesson 06, exercise 1: plan_energy (negative pseudo-log-likelihood of a plan)"
    )


def refine_step(log_p: torch.Tensor, plan: torch.Tensor):
    """One iteration of energy minimization.

    In each plan, find the token with the highest energy -log p(a_i | s, τ_-i) (the first such position on ties)
    and replace it by its most likely action argmax_v log_p[b, i, v] (the first on ties).

    Args:
        log_p: (B, L, V) the plan's conditionals, as in plan_energy.
        plan: (B, L) int64. Do not modify it.
    Returns:
        (new_plan (B, L) int64, energy (B,) of the plan BEFORE the step).
    """
    raise NotImplementedError(
        "Lesson 06, exercise 2: refine_step (re-mask the worst token, resample it)"
    )
