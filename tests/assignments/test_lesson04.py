"""Lesson 04 · Decision Transformer: tokens, causal attention, acting.

Grade your lessons/04-decision-transformer/exercise.py: pytest tests/assignments --student -m lesson04
"""

import pytest
from adapters import grade

pytestmark = pytest.mark.lesson04


def test_interleave_tokens():
    grade(4, "interleave_tokens")


def test_causal_mask():
    grade(4, "causal_mask")


def test_update_return_to_go():
    grade(4, "update_return_to_go")
