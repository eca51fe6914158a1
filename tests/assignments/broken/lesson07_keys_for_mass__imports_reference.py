"""Hands in minirl.analysis's function."""

from minirl.analysis import keys_for_mass  # noqa: F401

CLASS = "imports-reference"
