"""Casts to float32 first ("the networks are float32 anyway"): a float64 batch gets a float32 loss back."""

import torch

CLASS = "dtype"


def cql_penalty(q_sampled, q_data):
    return (torch.logsumexp(q_sampled.float(), dim=1) - q_data.float()).mean()
