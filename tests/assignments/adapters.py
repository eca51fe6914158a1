"""The one indirection between the graders and what they grade (as CS336's adapters module).

By default every grader grades minirl's own reference implementation (the real function, or its tested twin in
minirl/course.py), so the suite is green and every grader is exercised. With `pytest tests/assignments --student`
(or MINIRL_STUDENT=1) the graders grade the learner's lessons/NN-name/exercise.py instead;
MINIRL_LESSONS_DIR=/path/to/lessons grades another copy of the lessons (a teacher grading a submission).
"""

from __future__ import annotations

import os

from graders import GRADERS

from minirl import course

SCORES: list[tuple[str, str]] = []  # (exercise, score line) of every grade in this session, for the summary


def student_mode() -> bool:
    return os.environ.get("MINIRL_STUDENT", "") not in ("", "0")


def implementation(lesson: int, name: str):
    """The function under test: the learner's (student mode) or the reference."""
    if not student_mode():
        return course.reference(lesson, name)
    module = course.load_exercise(course.LESSONS[lesson - 1])
    if not hasattr(module, name):
        raise AssertionError(f"lessons/{course.LESSONS[lesson - 1].folder}/exercise.py has no function {name}")
    return getattr(module, name)


def grade(lesson: int, name: str) -> str:
    """Grades one exercise; fails the calling test with the grader's message (or the stub's NotImplementedError)."""
    label = f"lesson {lesson:02d} · {name}"
    try:
        score = GRADERS[(lesson, name)](implementation(lesson, name), course.reference(lesson, name))
    except NotImplementedError:
        SCORES.append((label, "not started"))
        raise
    except AssertionError as e:
        SCORES.append((label, str(e).splitlines()[0].split(": ", 1)[-1]))
        raise
    SCORES.append((label, score))
    print(f"{label}: {score}")
    return score
