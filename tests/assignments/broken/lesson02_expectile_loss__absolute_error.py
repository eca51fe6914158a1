"""|diff| instead of diff²: that is the quantile (pinball) loss, not the expectile loss."""

import torch


def expectile_loss(diff, tau):
    weight = torch.abs(tau - (diff < 0).float())
    return (weight * diff.abs()).mean()
