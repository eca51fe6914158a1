"""Imports the twin from minirl.course."""

from minirl.course import causal_mask  # noqa: F401

CLASS = "imports-reference"
