"""Sign error: pushes Q up on sampled actions and down on the data's, the opposite of conservative."""

import torch


def cql_penalty(q_sampled, q_data):
    return (q_data - torch.logsumexp(q_sampled, dim=1)).mean()
