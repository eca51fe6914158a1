"""Imports the twin from minirl.course."""

from minirl.course import mean_and_std  # noqa: F401

CLASS = "imports-reference"
