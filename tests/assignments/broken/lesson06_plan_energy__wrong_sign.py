"""Energy with the wrong sign: + Σ log p, so the most likely plans get the HIGHEST energy."""


def plan_energy(log_p, plan):
    return log_p.gather(-1, plan[..., None]).squeeze(-1).sum(1)
