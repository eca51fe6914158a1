"""The graders themselves: each catches every deliberately broken solution, and passes the reference.

Not a lesson's test (no lessonNN marker): it checks the course, not the learner, so it is skipped in student mode.
"""

import importlib.util
from pathlib import Path

import pytest
from adapters import student_mode
from graders import GRADERS, GradeError

from minirl.course import LESSONS, reference

pytestmark = pytest.mark.skipif(student_mode(), reason="grades the graders, not the learner")

BROKEN = sorted((Path(__file__).parent / "broken").glob("lesson*.py"))
EXERCISES = [(lesson.number, name) for lesson in LESSONS for name in lesson.exercises]


def exercise_of(path: Path) -> tuple[int, str]:
    """lesson05_beam_step__keeps_worst.py -> (5, "beam_step")."""
    head = path.stem.split("__")[0]
    return int(head[6:8]), head[9:]


def load(path: Path):
    spec = importlib.util.spec_from_file_location(f"broken_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_exercise_has_a_grader_and_a_broken_solution():
    assert set(GRADERS) == set(EXERCISES)
    assert {exercise_of(p) for p in BROKEN} == set(EXERCISES)


@pytest.mark.parametrize("lesson, name", EXERCISES, ids=[f"lesson{n:02d}-{e}" for n, e in EXERCISES])
def test_the_reference_passes_its_grader(lesson, name):
    assert "cases" in GRADERS[(lesson, name)](reference(lesson, name), reference(lesson, name))


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # broken numerics may warn (a std of one value, ...)
@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_the_grader_catches_a_broken_solution(path):
    lesson, name = exercise_of(path)
    broken = getattr(load(path), name)
    with pytest.raises(GradeError, match=f"Lesson {lesson:02d} · {name}: .* cases correct") as caught:
        GRADERS[(lesson, name)](broken, reference(lesson, name))
    assert "first wrong case" in str(caught.value)
