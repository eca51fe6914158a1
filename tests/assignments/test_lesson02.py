"""Lesson 02 · Offline RL: distribution shift, SAC's critic, CQL and IQL.

Grade your lessons/02-offline-rl/exercise.py: pytest tests/assignments --student -m lesson02
"""

import pytest
from adapters import grade

pytestmark = pytest.mark.lesson02


def test_cql_penalty():
    grade(2, "cql_penalty")


def test_expectile_loss():
    grade(2, "expectile_loss")
