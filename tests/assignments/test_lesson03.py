"""Lesson 03 · Behaviour cloning and return conditioning.

Grade your lessons/03-return-conditioning/exercise.py: pytest tests/assignments --student -m lesson03
"""

import pytest
from adapters import grade

pytestmark = pytest.mark.lesson03


def test_returns_to_go():
    grade(3, "returns_to_go")


def test_return_conditioned_loss():
    grade(3, "return_conditioned_loss")
