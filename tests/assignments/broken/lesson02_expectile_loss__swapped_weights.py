"""Weights tau on the negative side: fits the (1 - tau)-expectile, a pessimistic V."""

import torch


def expectile_loss(diff, tau):
    weight = torch.abs(tau - (diff > 0).float())
    return (weight * diff**2).mean()
