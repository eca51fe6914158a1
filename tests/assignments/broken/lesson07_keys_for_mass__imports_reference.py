"""Hands in minirl.analysis.metrics's function."""

from minirl.analysis.metrics import keys_for_mass  # noqa: F401

CLASS = "imports-reference"
