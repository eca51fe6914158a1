"""The algorithm pages (docs/algorithms/*.md) stay true: their commands run, their links point at the code they name.

- every ```bash block of a page runs (unless fenced `bash notest`): each `minirl ...` command goes through the CLI
  in this process, as written except for its sizes (--steps 2, eval --episodes 1, --eval-every 1, --eval-episodes 1,
  tiny datasets: 2000 HalfCheetah steps or 20 BabyAI episodes; evaluation episodes end after 5 env steps), and must
  exit with code 0. Runs write into a temporary folder, datasets into this file's own MINARI_DATASETS_PATH;
- every `minirl` command of every block, `notest` ones included, parses as written against the CLI (its options
  exist, its values are in range), with nothing run;
- every link into the repository's code, [`identifier`](../../minirl/file.py#L123), names a line that exists and
  contains the identifier in the link text, so a link cannot drift silently when the code moves;
- every number in a page's "Ours vs the paper's table" tables is one that docs/results.md states (no invented rows);
- each page has the sections the index promises.

The lessons' Python blocks are run the same way by tests/test_lessons.py (a fence's info words mark what not to run).
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import shlex
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import app
from minirl import envs, evaluate

ROOT = Path(__file__).resolve().parents[1]
PAGES_DIR = ROOT / "docs" / "algorithms"
ALGOS = ("dt", "tt", "leap", "bc", "cql", "iql")
PAGES = [PAGES_DIR / f"{algo}.md" for algo in ALGOS]
SECTIONS = (
    "## What it is",
    "## How to run it",
    "## What it logs",
    "## Implementation details",
    "## Ours vs the paper's table",
)
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
CODE_LINK = re.compile(r"\[`([^`\]]+)`\]\((\.\./\.\./[^)#\s]+)#L(\d+)(?:-L(\d+))?\)")
NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")
# discrete (BabyAI) or HalfCheetah
TINY_COLLECT = {True: ["--episodes", "20"], False: ["--steps", "2000"]}
EPISODE_STEPS = 5  # evaluation episodes are cut after this many env steps

runner = CliRunner()


# ---------------------------------------------------------------------------------------------- reading pages


def bash_blocks(path: Path) -> list[dict]:
    """The ```bash blocks of a page: info words, the line they start on, and their commands (each a list of args
    after `minirl`, with `&&` chains split and leading VAR=value assignments dropped)."""
    text = path.read_text()
    out = []
    for m in FENCE.finditer(text):
        info = m.group(1).split()
        if not info or info[0] not in ("bash", "sh", "shell"):
            continue
        out.append(
            {
                "info": info,
                "line": text[: m.start()].count("\n") + 1,
                "commands": commands(m.group(2)),
            }
        )
    return out


def commands(code: str) -> list[list[str]]:
    """`minirl` commands of a shell block; a line with `$` (a loop variable) or that is not a minirl command is
    returned as None, so a runnable block can refuse it and a parse check can skip it."""
    out = []
    for line in code.replace("\\\n", " ").splitlines():
        if not line.strip() or line.strip().startswith("#"):
            continue
        words = shlex.split(line, comments=True)
        chain: list[list[str]] = [[]]
        for word in words:
            if word == "&&":
                chain.append([])
            else:
                chain[-1].append(word)
        for words in chain:
            while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
                words = words[1:]
            out.append(words[1:] if words and words[0] == "minirl" and "$" not in line else None)
    return out


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


# ---------------------------------------------------------------------------------------------- tiny sizes


def option(args: list[str], name: str, value: str, add: bool = False) -> list[str]:
    """args with option `name` set to `value` (appended if absent and add)."""
    args = list(args)
    if name in args:
        args[args.index(name) + 1] = value
    elif add:
        args += [name, value]
    return args


def tiny(args: list[str]) -> list[str]:
    """The same command at test size: the options that set how long it runs are rewritten, nothing else."""
    if args[0] == "train":
        args = option(args, "--steps", "2", add=True)
        args = option(option(args, "--eval-every", "1"), "--eval-episodes", "1")
    elif args[0] == "eval":
        args = option(args, "--episodes", "1", add=True)
    elif args[:2] == ["data", "collect"]:
        sized = [i for i, a in enumerate(args) if a in ("--steps", "--episodes")]
        args = [a for i, a in enumerate(args) if i not in sized and i - 1 not in sized]
        args += TINY_COLLECT[envs.get_spec(args[2]).discrete]
    return args


def collect_commands(pages: list[Path]) -> dict[str, list[list[str]]]:
    """Every dataset the runnable blocks use -> the distinct (tiny) collect commands that make it: the pages' own
    `minirl data collect` commands where there are some, else a plain one."""
    named, collects = set(), {}
    for page in pages:
        for block in bash_blocks(page):
            if "notest" in block["info"]:
                continue
            for args in filter(None, block["commands"]):
                if "--dataset" in args:
                    named.add(args[args.index("--dataset") + 1])
                if args[:2] == ["data", "collect"] and tiny(args) not in collects.setdefault(
                    args[2], []
                ):
                    collects[args[2]].append(tiny(args))
    return {
        name: collects.get(name) or [tiny(["data", "collect", name])]
        for name in sorted(named | set(collects))
    }


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """This file's own MINARI_DATASETS_PATH with every dataset the pages use, made by the pages' own (tiny)
    `minirl data collect` commands, each distinct one once for all pages (a later one of the same dataset with
    --overwrite). Yields {dataset: the commands run}."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MINARI_DATASETS_PATH", str(tmp_path_factory.mktemp("docs-minari")))
        made = collect_commands(PAGES)
        for variants in made.values():
            for i, args in enumerate(variants):
                result = runner.invoke(app, args + ["--overwrite"] * (i > 0))
                assert result.exit_code == 0, f"minirl {shlex.join(args)}\n{result.output}"
        yield made


@pytest.fixture
def short_episodes(monkeypatch):
    """Evaluation episodes (minirl eval, train --eval-every) end after EPISODE_STEPS env steps."""
    monkeypatch.setattr(
        evaluate,
        "make_env",
        lambda name, **kwargs: envs.make_env(name, max_episode_steps=EPISODE_STEPS, **kwargs),
    )


@functools.cache
def command_tree():
    """A fresh copy of the CLI's command tree in which every command's callback does nothing."""
    group = typer.main.get_command(app)
    stack = [group]
    while stack:
        command = stack.pop()
        # a group (Typer's own click, so no isinstance check on click.Group)
        if hasattr(command, "commands"):
            stack += command.commands.values()
        else:
            command.callback = lambda **kwargs: None
    return group


def parse_only(args: list[str]) -> str | None:
    """Parses a command line against the CLI (options, types, ranges) and runs nothing. Returns None, or the error
    the CLI prints."""
    group = command_tree()
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        code = group.main(list(args), prog_name="minirl", standalone_mode=False)
    return None if code in (None, 0) else f"exit {code}: {stderr.getvalue().strip()}"


# ---------------------------------------------------------------------------------------------- the tests


def test_every_algorithm_has_a_page_and_the_readmes_link_them():
    for page in PAGES:
        assert page.exists(), page
    index = (PAGES_DIR / "README.md").read_text()
    for algo in ALGOS:
        assert f"({algo}.md)" in index, f"docs/algorithms/README.md does not link {algo}.md"
    assert "docs/algorithms/" in (ROOT / "README.md").read_text(), (
        "README.md does not link docs/algorithms/"
    )


@pytest.mark.parametrize("page", PAGES, ids=ALGOS)
def test_page_has_the_promised_sections(page):
    text = page.read_text()
    for heading in SECTIONS:
        assert heading in text, f"{page.name} has no '{heading}' section"
    assert [h for h in SECTIONS if h in text] == sorted(SECTIONS, key=text.index), (
        "sections out of order"
    )


@pytest.mark.parametrize("page", PAGES, ids=ALGOS)
def test_page_commands_run(page, datasets, short_episodes, tmp_path, monkeypatch):
    """Each runnable block's commands, in order, at tiny sizes, in a fresh folder (runs/ and figures land there)."""
    monkeypatch.chdir(tmp_path)
    ran = 0
    for block in bash_blocks(page):
        if "notest" in block["info"]:
            continue
        for args in block["commands"]:
            assert args, (
                f"{page.name}:{block['line']}: a runnable block holds only minirl commands (fence others "
                "as `bash notest`)"
            )
            if args[:2] == ["data", "collect"]:
                assert tiny(args) in datasets[args[2]]  # run once, by the fixture, for every page
                continue
            result = runner.invoke(app, tiny(args))
            assert result.exit_code == 0, (
                f"{page.name}:{block['line']}: minirl {shlex.join(tiny(args))} "
                f"(as written: minirl {shlex.join(args)})\n{result.output}"
            )
            ran += 1
    assert ran >= 2, f"{page.name} shows no runnable train and eval commands"


@pytest.mark.parametrize("page", PAGES, ids=ALGOS)
def test_page_commands_parse_as_written(page):
    """Also the commands not run here (`notest`: long comparisons), so a renamed option or value cannot drift."""
    for block in bash_blocks(page):
        for args in filter(None, block["commands"]):
            error = parse_only(args)
            assert error is None, f"{page.name}:{block['line']}: minirl {shlex.join(args)}: {error}"


@pytest.mark.parametrize("page", PAGES, ids=ALGOS)
def test_code_links_point_at_their_identifier(page):
    links = CODE_LINK.findall(page.read_text())
    assert len(links) >= 8, (
        f"{page.name}: its implementation details link at most {len(links)} lines of code"
    )
    for identifier, target, first, last in links:
        path = (page.parent / target).resolve()
        assert path.is_file(), f"{page.name}: {target} does not exist"
        lines = path.read_text().splitlines()
        first, last = int(first), int(last or first)
        assert 1 <= first <= last <= len(lines), (
            f"{page.name}: {target} has no line {last} ({len(lines)} lines)"
        )
        linked = "\n".join(lines[first - 1 : last])
        found = [n for n, line in enumerate(lines, 1) if identifier in line]
        assert identifier in linked, (
            f"{page.name}: [`{identifier}`]({target}#L{first}) points at "
            f"{linked.strip()!r}; `{identifier}` is on lines {found} of {target} now"
        )


@pytest.mark.parametrize("page", PAGES, ids=ALGOS)
def test_quoted_results_are_numbers_results_md_states(page):
    """Every number in the page's comparison tables appears in docs/results.md: rows are quoted, never made up."""
    results = (ROOT / "docs" / "results.md").read_text()
    stated = set(NUMBER.findall(results))
    rows = [
        line
        for line in section(page.read_text(), "## Ours vs the paper's table").splitlines()
        if line.startswith("|") and not set(line) <= set("|-: ")
    ]
    assert len(rows) >= 2, f"{page.name} quotes no measured rows"
    for row in rows:
        # the first cell names the row (method, dataset, level)
        for cell in row.strip("|").split("|")[1:]:
            for number in NUMBER.findall(re.sub(r"\[[^\]]*\]\([^)]*\)|`[^`]*`", "", cell)):
                assert number in stated, (
                    f"{page.name}: {number} in row {row!r} is not in docs/results.md"
                )


def slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", PAGES + [PAGES_DIR / "README.md"], ids=ALGOS + ("index",))
def test_relative_links_and_anchors_exist(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: {target} does not exist"
        if anchor and not re.fullmatch(r"L\d+(-L\d+)?", anchor):
            headings = [slug(h) for h in re.findall(r"^#+ (.+)$", linked.read_text(), re.M)]
            assert anchor in headings, (
                f"{page.name}: {target}: no heading with that anchor in {path}"
            )
