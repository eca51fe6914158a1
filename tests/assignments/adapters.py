"""The one indirection between the graders and what they grade (as CS336's adapters module).

By default every grader grades minirl's own reference implementation (the real function, or its tested twin in
minirl/course.py), in this process, so the suite is green and every grader is exercised. With
`pytest tests/assignments --student` (or MINIRL_STUDENT=1) the graders grade the learner's
lessons/NN-name/exercise.py instead, through `graders.grade_file`: a static check of the file, then the learner's
functions run in the sandbox process of sandbox.py, where neither minirl nor the graders can be imported.
MINIRL_LESSONS_DIR=/path/to/lessons grades another copy of the lessons (a teacher grading a submission).
"""

from __future__ import annotations

import atexit
import os

from graders import GRADERS, grade_file, sandbox

from minirl import course

# (exercise, score line) of every grade in this session, for the summary
SCORES: list[tuple[str, str]] = []
_BOX: list = []  # the session's sandbox, started at the first student grade


def student_mode() -> bool:
    return os.environ.get("MINIRL_STUDENT", "") not in ("", "0")


def the_sandbox() -> sandbox.Sandbox:
    if not _BOX:
        _BOX.append(sandbox.Sandbox())
        atexit.register(_BOX[0].close)
    return _BOX[0]


def grade(lesson: int, name: str) -> str:
    """Grades one exercise; fails the calling test with the grader's message (or the stub's NotImplementedError)."""
    label = f"lesson {lesson:02d} · {name}"
    try:
        if student_mode():
            path = course.lessons_dir() / course.LESSONS[lesson - 1].folder / "exercise.py"
            if not path.exists():
                raise AssertionError(f"no exercise file at {path}")
            score = grade_file(lesson, name, path, the_sandbox())
        else:
            score = GRADERS[(lesson, name)](
                course.reference(lesson, name), course.reference(lesson, name)
            )
    except NotImplementedError:
        SCORES.append((label, "not started"))
        raise
    except AssertionError as e:
        SCORES.append((label, str(e).splitlines()[0].split(": ", 1)[-1]))
        raise
    SCORES.append((label, score))
    print(f"{label}: {score}")
    return score
