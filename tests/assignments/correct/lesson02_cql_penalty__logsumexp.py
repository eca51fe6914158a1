"""Valid: torch.logsumexp."""

import torch


def cql_penalty(q_sampled, q_data):
    return (torch.logsumexp(q_sampled, dim=1) - q_data).mean()
