"""Assignment grading options: `--student` grades lessons/*/exercise.py instead of minirl's references."""

import os

from adapters import SCORES


def pytest_addoption(parser):
    parser.addoption(
        "--student",
        action="store_true",
        default=False,
        help="grade the learner's lessons/*/exercise.py (same as MINIRL_STUDENT=1)",
    )


def pytest_configure(config):
    if config.getoption("--student"):
        os.environ["MINIRL_STUDENT"] = "1"


def pytest_terminal_summary(terminalreporter):
    if not SCORES:
        return
    who = (
        "your exercise.py files"
        if os.environ.get("MINIRL_STUDENT", "") not in ("", "0")
        else "the references"
    )
    terminalreporter.section(f"minirl course scores ({who})")
    for label, score in SCORES:
        terminalreporter.write_line(f"{label:<40} {score}")
