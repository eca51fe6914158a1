"""Imports IQL's loss from minirl, hidden behind importlib."""

import importlib

CLASS = "imports-reference"


def expectile_loss(diff, tau):
    return importlib.import_module("minirl.baselines." + "iql").expectile_loss(diff, tau)
