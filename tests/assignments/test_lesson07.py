"""Lesson 07 · Reading attention: what the analyses show and do not.

Grade your lessons/07-reading-attention/exercise.py: pytest tests/assignments --student -m lesson07
"""

import pytest
from adapters import grade

pytestmark = pytest.mark.lesson07


def test_row_entropy():
    grade(7, "row_entropy")


def test_keys_for_mass():
    grade(7, "keys_for_mass")


def test_gini():
    grade(7, "gini")
