"""Lesson 06 · LEAP: energy-based planning with a masked model.

Grade your lessons/06-leap/exercise.py: pytest tests/assignments --student -m lesson06
"""

import pytest
from adapters import grade

pytestmark = pytest.mark.lesson06


def test_plan_energy():
    grade(6, "plan_energy")


def test_refine_step():
    grade(6, "refine_step")
