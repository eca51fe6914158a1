"""Lesson 05 · Trajectory Transformer: discretize, model, beam search.

Grade your lessons/05-trajectory-transformer/exercise.py: pytest tests/assignments --student -m lesson05
"""

import pytest
from adapters import grade

pytestmark = pytest.mark.lesson05


def test_fit_quantile_bins():
    grade(5, "fit_quantile_bins")


def test_discretize():
    grade(5, "discretize")


def test_undiscretize():
    grade(5, "undiscretize")


def test_beam_step():
    grade(5, "beam_step")
