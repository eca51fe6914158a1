"""Lesson 01 · Bellman backups: value iteration and Q-learning.

Grade your lessons/01-bellman-backups/exercise.py: pytest tests/assignments --student -m lesson01
"""

import pytest
from adapters import grade

pytestmark = pytest.mark.lesson01


def test_bellman_backup():
    grade(1, "bellman_backup")


def test_q_learning_step():
    grade(1, "q_learning_step")
