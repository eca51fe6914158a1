"""Sums the energy in float32: float64 conditionals get a float32 energy."""

CLASS = "dtype"


def plan_energy(log_p, plan):
    return -log_p.float().gather(-1, plan[..., None]).squeeze(-1).sum(1)
