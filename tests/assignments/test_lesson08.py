"""Lesson 08 · Choosing a method: the measured comparison.

Grade your lessons/08-choosing-a-method/exercise.py: pytest tests/assignments --student -m lesson08
"""

import pytest
from adapters import grade

pytestmark = pytest.mark.lesson08


def test_normalized_score():
    grade(8, "normalized_score")


def test_mean_and_std():
    grade(8, "mean_and_std")


def test_start_then_goal():
    grade(8, "start_then_goal")
