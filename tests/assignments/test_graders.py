"""The graders themselves: each catches every deliberately broken solution, and passes every correct one.

Not a lesson's test (no lessonNN marker): it checks the course, not the learner, so it is skipped in student mode.
Broken and correct solutions are graded the way a learner's exercise.py is (`graders.grade_file`: the static check,
then the sandbox process), so a cheat that would only work in the grader's own process is shown to fail.
"""

import ast
from pathlib import Path

import graders
import pytest
from adapters import student_mode
from graders import GRADERS, GradeError, grade_file, sandbox

from minirl.course import LESSONS, reference

pytestmark = pytest.mark.skipif(student_mode(), reason="grades the graders, not the learner")

HERE = Path(__file__).parent
BROKEN = sorted((HERE / "broken").glob("lesson*.py"))
CORRECT = sorted((HERE / "correct").glob("lesson*.py"))
EXERCISES = [(lesson.number, name) for lesson in LESSONS for name in lesson.exercises]
CLASSES = {
    "contract",
    "numerics",
    "memorised",
    "imports-reference",
    "stack-inspection",
    "grader-patching",
    "dtype",
}
CHEATS = {"imports-reference", "stack-inspection", "grader-patching"}


def exercise_of(path: Path) -> tuple[int, str]:
    """lesson05_beam_step__keeps_worst.py -> (5, "beam_step")."""
    head = path.stem.split("__")[0]
    return int(head[6:8]), head[9:]


def solved(path: Path) -> list[tuple[int, str]]:
    """The exercises a correct file solves: lessonNN__solution.py solves all of lesson NN's."""
    lesson, name = exercise_of(path)
    return [(lesson, n) for n in LESSONS[lesson - 1].exercises] if not name else [(lesson, name)]


def bug_class(path: Path) -> str | None:
    """The module-level CLASS = "..." of a broken solution, read without importing it (cheats patch at import)."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
            "CLASS"
        ]:
            return node.value.value
    return None


@pytest.fixture(scope="module")
def box():
    b = sandbox.Sandbox()
    yield b
    b.close()


def test_every_exercise_has_a_grader_and_a_broken_solution():
    assert set(GRADERS) == set(EXERCISES)
    assert {exercise_of(p) for p in BROKEN} == set(EXERCISES)
    assert {e for p in CORRECT for e in solved(p)} == set(EXERCISES)


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.marker for lesson in LESSONS])
def test_every_lesson_has_five_classified_broken_solutions(lesson):
    classes = [bug_class(p) for p in BROKEN if exercise_of(p)[0] == lesson.number and bug_class(p)]
    assert len(classes) >= 5, classes
    assert set(classes) <= CLASSES
    assert "memorised" in classes and CHEATS & set(classes), classes


@pytest.mark.parametrize(
    "lesson, name", EXERCISES, ids=[f"lesson{n:02d}-{e}" for n, e in EXERCISES]
)
def test_the_reference_passes_its_grader(lesson, name):
    assert "cases" in GRADERS[(lesson, name)](reference(lesson, name), reference(lesson, name))


# broken numerics may warn (a std of one value, ...)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_the_grader_catches_a_broken_solution(path, box):
    lesson, name = exercise_of(path)
    with pytest.raises(
        GradeError, match=f"Lesson {lesson:02d} · {name}: .* cases correct"
    ) as caught:
        grade_file(lesson, name, path, box)
    assert "first wrong case" in str(caught.value)


@pytest.mark.parametrize(
    "path",
    [p for p in BROKEN if bug_class(p) in CHEATS],
    ids=[p.stem for p in BROKEN if bug_class(p) in CHEATS],
)
def test_the_sandbox_alone_stops_a_cheat(path, box):
    """Even without the static check, a cheat finds neither the reference nor the grader in the sandbox."""
    lesson, name = exercise_of(path)
    with pytest.raises(GradeError, match="cases correct"):
        grade_file(lesson, name, path, box, static=False)


@pytest.mark.parametrize(
    "path",
    [p for p in BROKEN if bug_class(p) == "memorised"],
    ids=[p.stem for p in BROKEN if bug_class(p) == "memorised"],
)
def test_a_memorised_solution_passes_the_fixed_cases_and_fails_fresh_ones(path, box, monkeypatch):
    lesson, name = exercise_of(path)
    monkeypatch.setattr(graders, "FRESH_CASES", False)
    assert "cases" in grade_file(lesson, name, path, box), (
        "regenerate it: python tests/assignments/memorise.py"
    )
    monkeypatch.setattr(graders, "FRESH_CASES", True)
    with pytest.raises(GradeError, match="fresh case"):
        grade_file(lesson, name, path, box)


@pytest.mark.parametrize("path", CORRECT, ids=[p.stem for p in CORRECT])
def test_a_correct_solution_passes(path, box):
    for lesson, name in solved(path):
        assert "cases" in grade_file(lesson, name, path, box)


def test_a_failure_names_the_run_seed_and_shows_full_precision(box):
    with pytest.raises(GradeError) as caught:
        grade_file(
            1, "bellman_backup", HERE / "broken" / "lesson01_bellman_backup__ignores_done.py", box
        )
    text = str(caught.value)
    assert f"MINIRL_GRADER_SEED={graders.RUN_SEED}" in text and "inputs: " in text
    assert "0.4099999964237213" in text  # float32 0.41 at full precision, not "0.41"
