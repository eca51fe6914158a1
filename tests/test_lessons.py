"""The lessons stay true: their Python runs, their quoted code is the real code, their exercises match the graders.

- every ```python block of every lesson README runs (as pytest-markdown-docs would: a block marked `continuation`
  continues the previous block's namespace, `notest` is skipped);
- every block after a `<!-- quote: path::qualname -->` marker is exactly the source of that function today;
- every exercise keeps its reference's signature, and an untouched stub is "not started", never "failing" (at any
  stage of a learner's work: functions they have written are graded by `pytest tests/assignments --student`);
- every reference twin in minirl/course.py computes what the real code computes, on random inputs;
- lesson 01's tabular code solves the real Minigrid room; `minirl lessons` grades a learner's folder.
"""

from __future__ import annotations

import ast
import inspect
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from minirl import course

ROOT = Path(__file__).resolve().parents[1]
READMES = sorted((ROOT / "lessons").glob("*/README.md"))
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
QUOTE = re.compile(r"<!--\s*quote:\s*(\S+?)::(\S+)\s*-->\s*\n\s*$")


def blocks(path: Path) -> list[dict]:
    """Fenced code blocks of a Markdown file: info words, code, line number, and the quote marker just above."""
    text = path.read_text()
    out = []
    for m in FENCE.finditer(text):
        quote = QUOTE.search(text[: m.start()][-300:])
        out.append(
            {
                "info": m.group(1).split(),
                "code": m.group(2),
                "line": text[: m.start()].count("\n") + 1,
                "quote": (quote.group(1), quote.group(2)) if quote else None,
            }
        )
    return out


def quotes() -> list[tuple[Path, dict]]:
    return [(path, b) for path in READMES for b in blocks(path) if b["quote"]]


# ---------------------------------------------------------------------------------------------- structure


def test_every_lesson_has_a_readme_and_an_exercise_file():
    for lesson in course.LESSONS:
        folder = ROOT / "lessons" / lesson.folder
        assert (folder / "README.md").exists(), folder
        assert (folder / "exercise.py").exists(), folder
    assert (ROOT / "lessons" / "README.md").exists()


@pytest.mark.parametrize("path", READMES, ids=[p.parent.name for p in READMES])
def test_lesson_names_its_command_and_exercise(path):
    text = path.read_text()
    assert "## Run it" in text and "## Exercise" in text, (
        "every lesson has a runnable command and an exercise"
    )
    lesson = next(x for x in course.LESSONS if x.folder == path.parent.name)
    assert f"-m {lesson.marker}" in text, "the lesson says how to grade its exercise"
    for image in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", text):
        if not image.startswith("http"):
            assert (path.parent / image).resolve().exists(), f"missing figure {image}"


# ---------------------------------------------------------------------------------------------- code in lessons


@pytest.mark.parametrize("path", READMES, ids=[p.parent.name for p in READMES])
def test_python_blocks_run(path, tmp_path, monkeypatch):
    """Each runnable block runs in order; a block without `continuation` starts a fresh namespace."""
    # a block that writes files writes them here, not into the repository
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for b in blocks(path):
        if (
            not b["info"]
            or b["info"][0] not in ("python", "py", "python3")
            or "notest" in b["info"]
        ):
            continue
        assert b["quote"] is None, (
            f"{path.name}:{b['line']}: a quoted block must be marked `python notest`"
        )
        if "continuation" not in b["info"]:
            namespace = {"__name__": f"lesson_block_{b['line']}"}
        exec(compile(b["code"], f"{path}:{b['line']}", "exec"), namespace)  # noqa: S102


@pytest.mark.parametrize(
    "path, block", quotes(), ids=[f"{p.parent.name}:{b['quote'][1]}" for p, b in quotes()]
)
def test_quoted_code_is_the_real_code(path, block):
    file, qualname = block["quote"]
    assert block["info"][:2] == ["python", "notest"], (
        "quoted code is shown, not run: fence it as `python notest`"
    )
    assert block["code"].rstrip() == course.quoted_source(file, qualname).rstrip(), (
        f"{path.parent.name}/README.md line {block['line']} quotes {file}::{qualname}, which has changed: "
        f"run `python -m minirl.course` to paste the new source, then reread the lesson's prose around it"
    )


def test_every_lesson_quotes_real_code():
    quoted = {p.parent.name for p, _ in quotes()}
    assert quoted == {p.parent.name for p in READMES}


# ---------------------------------------------------------------------------------------------- exercises


EXERCISES = [(lesson, name) for lesson in course.LESSONS for name in lesson.exercises]
SOLUTIONS = ROOT / "tests" / "assignments" / "correct"
BROKEN = ROOT / "tests" / "assignments" / "broken"


def is_stub(fn: ast.FunctionDef) -> bool:
    """A function the learner has not written yet: a docstring, then `raise NotImplementedError(...)`."""
    body = [
        n for n in fn.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
    ]
    return (
        len(body) == 1
        and isinstance(body[0], ast.Raise)
        and "NotImplementedError" in ast.unparse(body[0])
    )


def stub_problems(folder: Path) -> list[str]:
    """What is wrong with the exercise files of a lessons folder, at whatever stage the learner is: every exercise
    keeps its reference's signature; a function still a stub states its contract and raises its own
    NotImplementedError. Functions the learner has written are graded by `--student`, not here."""
    problems = []
    for lesson in course.LESSONS:
        path = folder / lesson.folder / "exercise.py"
        functions = {
            n.name: n for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)
        }
        for k, name in enumerate(lesson.exercises, 1):
            fn = functions.get(name)
            if fn is None:
                problems.append(f"{lesson.folder}: no function {name}")
                continue
            want = list(inspect.signature(course.reference(lesson.number, name)).parameters)
            if [a.arg for a in fn.args.args] != want:
                problems.append(
                    f"{lesson.folder}: {name} takes {[a.arg for a in fn.args.args]}, not {want}"
                )
            if is_stub(fn):
                doc = ast.get_docstring(fn) or ""
                if len(doc) < 80:
                    problems.append(f"{lesson.folder}: the stub {name} does not state its contract")
                if f"Lesson {lesson.number:02d}, exercise {k}: {name}" not in ast.unparse(
                    fn.body[-1]
                ):
                    problems.append(
                        f"{lesson.folder}: the stub {name} raises the wrong NotImplementedError"
                    )
    return problems


def solve(folder: Path, lesson: course.Lesson) -> None:
    """Writes the correct solution of tests/assignments/correct/ into a copied lessons folder."""
    (folder / lesson.folder / "exercise.py").write_text(
        (SOLUTIONS / f"{lesson.marker}__solution.py").read_text()
    )


def copy_lessons(tmp_path: Path) -> Path:
    folder = tmp_path / "lessons"
    shutil.copytree(ROOT / "lessons", folder, ignore=shutil.ignore_patterns("*.png", "__pycache__"))
    return folder


def test_the_exercise_files_keep_their_contract():
    """Green for a learner at any stage: unsolved, partly or fully solved (see the test below)."""
    assert stub_problems(ROOT / "lessons") == []


def test_the_repositorys_own_checks_stay_green_at_every_stage(tmp_path):
    folder = copy_lessons(tmp_path)
    # the pristine stubs (the repository's own, or a learner's untouched ones)
    for lesson in course.LESSONS:
        text = (folder / lesson.folder / "exercise.py").read_text()
        functions = [n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef)]
        assert all(is_stub(fn) for fn in functions) or (ROOT / "lessons" / lesson.folder).exists()
    assert stub_problems(folder) == []
    solve(folder, course.LESSONS[0])  # partly solved
    assert stub_problems(folder) == []
    for lesson in course.LESSONS:  # fully solved
        solve(folder, lesson)
    assert stub_problems(folder) == []


def test_an_untouched_stub_is_not_started():
    """An untouched stub fails only with its NotImplementedError ('Lesson NN, exercise k: ...'), never otherwise."""
    graders = course.load_graders()
    box = graders.sandbox.Sandbox()
    try:
        for lesson in course.LESSONS:
            path = ROOT / "lessons" / lesson.folder / "exercise.py"
            stubs = {
                n.name
                for n in ast.parse(path.read_text()).body
                if isinstance(n, ast.FunctionDef) and is_stub(n)
            }
            for k, name in enumerate(lesson.exercises, 1):
                if name in stubs:
                    result = graders.run_grader(lesson.number, name, path, box)
                    assert result["status"] == "not started", (lesson.folder, name, result)
                    assert result["detail"].startswith(
                        f"Lesson {lesson.number:02d}, exercise {k}"
                    ), result["detail"]
    finally:
        box.close()


def test_minirl_lessons_grades_the_learners_folder(tmp_path, monkeypatch):
    """Status comes from the learner's files: not started, then passing once an exercise is solved, failing once
    it is solved wrongly or hands in minirl's own function."""
    from rich.console import Console

    folder = copy_lessons(tmp_path)
    monkeypatch.setenv("MINIRL_LESSONS_DIR", str(folder))
    lesson = course.LESSONS[0]
    assert course.grade_lesson(lesson)["status"] == "not started"
    solve(folder, lesson)
    assert course.grade_lesson(lesson)["status"] == "passing"
    exercise = folder / lesson.folder / "exercise.py"
    solution = (SOLUTIONS / "lesson01__solution.py").read_text()
    q_learning = solution[solution.index("def q_learning_step") :]
    exercise.write_text(
        (BROKEN / "lesson01_bellman_backup__ignores_done.py").read_text() + "\n\n" + q_learning
    )
    result = course.grade_lesson(lesson)
    assert result["status"] == "failing"
    assert result["exercises"]["q_learning_step"]["status"] == "passing"
    exercise.write_text(
        "from minirl.baselines.tabular import bellman_backup, q_learning_step  # noqa: F401\n"
    )
    result = course.grade_lesson(lesson)
    assert (
        result["status"] == "failing"
        and "minirl holds the reference" in result["exercises"]["bellman_backup"]["detail"]
    )
    console = Console(record=True, width=140)
    course.print_status(console)
    text = console.export_text()
    assert "failing" in text and "not started" in text and "-m lesson01" in text


# ---------------------------------------------------------------------------------------------- twins


def tiny_tokenizer(state_dim: int = 3, act_dim: int = 2, discretizer=None):
    from minirl.tokenizer import Normalizer, Tokenizer

    return Tokenizer(
        "halfcheetah",
        False,
        act_dim,
        Normalizer(np.zeros(state_dim), np.ones(state_dim)),
        discretizer=discretizer,
    )


def tiny_dt():
    from minirl import dt

    torch.manual_seed(0)
    cfg = dt.Config(n_layer=1, d_model=16, context_len=4, max_timestep=10)
    return dt.Model(cfg, tiny_tokenizer()).eval(), cfg


def test_return_conditioned_loss_twin_is_dt_loss():
    model, _ = tiny_dt()
    g = torch.Generator().manual_seed(1)
    batch = {
        "rtg": torch.randn(3, 4, generator=g),
        "states": torch.randn(3, 4, 3, generator=g),
        "actions": torch.rand(3, 4, 2, generator=g) * 2 - 1,
        "timesteps": torch.randint(0, 10, (3, 4)),
        "mask": torch.tensor([[False, True, True, True], [True] * 4, [False, False, False, True]]),
    }
    preds = model(
        batch["rtg"], batch["states"], batch["actions"], batch["timesteps"], batch["mask"]
    )
    torch.testing.assert_close(
        course.return_conditioned_loss(preds, batch["actions"], batch["mask"]), model.loss(batch)
    )


def test_interleave_tokens_twin_is_dt_token_layout():
    model, _ = tiny_dt()
    seen = {}
    model.embed_ln.register_forward_pre_hook(lambda module, args: seen.update(tokens=args[0]))
    g = torch.Generator().manual_seed(2)
    rtg, states, actions = (
        torch.randn(2, 4, generator=g),
        torch.randn(2, 4, 3, generator=g),
        torch.randn(2, 4, 2),
    )
    timesteps = torch.arange(4).repeat(2, 1)
    model(rtg, states, actions, timesteps)
    time = model.embed_timestep(timesteps)
    want = course.interleave_tokens(
        model.embed_return(rtg[..., None]) + time,
        model.embed_state(states) + time,
        model.embed_action(actions) + time,
    )
    torch.testing.assert_close(seen["tokens"], want)


def test_causal_mask_twin_is_the_transformers_mask():
    from minirl.transformer import KVCache, Transformer, TransformerConfig

    torch.manual_seed(0)
    net = Transformer(TransformerConfig(n_layer=2, n_head=2, d_model=8, dropout=0.0)).eval()
    x = torch.randn(1, 7, 8)
    net.capture_attention()
    net(x, causal=True)
    assert torch.equal(net.attention_maps()[0][0, 0] > 0, course.causal_mask(7))
    cache = KVCache(2)
    net(x[:, :4], causal=True, cache=cache)
    # 3 new tokens after P = 4
    net(x[:, 4:], causal=True, cache=cache)
    assert torch.equal(net.attention_maps()[1][0, 1] > 0, course.causal_mask(3, 4))


def test_update_return_to_go_twin_is_dt_agent_observe():
    from minirl import dt

    model, _ = tiny_dt()
    agent = dt.Agent(model, tiny_tokenizer(), target_return=5.0)
    agent.reset(4)
    agent.done[:] = [False, True, False, False]
    before, rewards = agent.current_rtg.copy(), np.array([0.5, 1.0, -2.0, 0.0], np.float32)
    agent.observe(rewards, np.array([False, False, True, False]))
    np.testing.assert_allclose(
        agent.current_rtg,
        course.update_return_to_go(before, rewards, [False, True, False, False], 1.0),
    )


def test_beam_step_twin_is_tt_beam_selection():
    from minirl import tt
    from minirl.tokenizer import Discretizer

    torch.manual_seed(0)
    cfg = tt.Config(N=8, n_layer=1, n_head=1, d_model=16, seq_len=3, dropout=0.0)
    rng = np.random.default_rng(0)
    tok = tiny_tokenizer(2, 1, Discretizer.fit(rng.normal(size=(200, 2 + 1 + 2)), cfg.N))
    model = tt.Model(cfg, tok).eval()
    n, copies, K = 2, 3, 2
    prefix = torch.randint(0, cfg.N, (n, model.obs_dim))

    def expand(width):
        decoder = tt.CachedDecoder(model, 2 * model.transition_dim - 1)
        decoder(prefix)
        rewards = torch.zeros(n, 3, dtype=model.rv_centers.dtype)
        return tt.expand_beams(
            decoder, prefix, rewards, 0, n, copies, width, 0.6, torch.Generator().manual_seed(3)
        )

    with torch.no_grad():
        _, all_rewards, all_scores = expand(copies)  # every candidate, best first
        _, _, scores = expand(K)
    keep, twin_scores = course.beam_step(all_rewards, n, K, cfg.discount)
    torch.testing.assert_close(twin_scores, scores)
    torch.testing.assert_close(twin_scores, all_scores[:, :K])
    assert keep.tolist() == [0, 1, 3, 4]  # the candidates were already sorted best first


def tiny_leap():
    from minirl import leap

    torch.manual_seed(0)
    cfg = leap.Config(
        horizon=3,
        n_bins=5,
        n_layer=1,
        n_head=1,
        d_model=16,
        dropout=0.0,
        resample="max_energy",
        temperature=0.0,
    )
    from minirl.tokenizer import Discretizer

    tok = tiny_tokenizer(
        3, 2, Discretizer.fit(np.random.default_rng(0).normal(size=(100, 2)), cfg.n_bins)
    )
    return leap.Model(cfg, tok).eval()


def test_plan_energy_and_refine_step_twins_are_leaps():
    model = tiny_leap()
    g = torch.Generator().manual_seed(4)
    states, plan = torch.randn(4, 3, generator=g), torch.randint(0, 5, (4, 6), generator=g)
    with torch.no_grad():
        log_p = model.conditionals(states, plan)
        torch.testing.assert_close(course.plan_energy(log_p, plan), model.energy(states, plan))
        new_plan, energy = model.refine_step(states, plan)
    twin_plan, twin_energy = course.refine_step(log_p, plan)
    assert torch.equal(twin_plan, new_plan)
    torch.testing.assert_close(twin_energy, energy)


def test_discretizer_twins_are_the_tokenizers():
    from minirl.tokenizer import Discretizer

    x = np.random.default_rng(5).exponential(size=(300, 3))
    d = Discretizer.fit(x, 9, "quantile")
    edges, centers = course.fit_quantile_bins(x, 9)
    np.testing.assert_array_equal(course.discretize(x, edges), d.encode(x))
    np.testing.assert_array_equal(edges, d.edges)
    # the Discretizer keeps float32 centers
    np.testing.assert_allclose(centers, d.centers, rtol=1e-6)
    np.testing.assert_allclose(
        course.undiscretize(d.encode(x), centers), d.decode(d.encode(x)), rtol=1e-6
    )


def test_expectile_loss_twin_is_iqls():
    from minirl.baselines.iql import expectile_loss

    diff = torch.randn(50, generator=torch.Generator().manual_seed(6))
    for tau in (0.1, 0.5, 0.9):
        torch.testing.assert_close(course.expectile_loss(diff, tau), expectile_loss(diff, tau))


def test_normalized_score_twin_is_envs():
    from minirl.envs import ENVS, normalized_score

    spec = ENVS["halfcheetah"]
    for ret in (-280.0, 0.0, 4800.0, 12135.0):
        assert course.normalized_score(
            ret, spec.ref_min_score, spec.ref_max_score
        ) == pytest.approx(normalized_score("halfcheetah", ret))


# ---------------------------------------------------------------------------------------------- lesson 01's code


def test_value_iteration_solves_the_minigrid_room():
    from minirl.baselines import tabular

    mdp = tabular.build_mdp()
    Q, residuals = tabular.value_iteration(mdp)
    assert len(mdp.states) == 32 and residuals[-1] < 1e-8
    # the room's start: top-left, facing east; the goal is 4 moves + 1 turn away
    start = mdp.index((1, 1, 0))
    assert Q[start].max() == pytest.approx(0.9**4)
    assert tabular.greedy_episode(Q, mdp) == (pytest.approx(1 - 0.9 * 5 / 100), 5)


def test_q_learning_in_the_real_env_reaches_the_optimal_values():
    from minirl.baselines import tabular

    mdp = tabular.build_mdp()
    Q_star, _ = tabular.value_iteration(mdp)
    Q, log = tabular.q_learning(tabular.Config(episodes=500), mdp, Q_star)
    assert log["max_error"][-1] < 0.05 < log["max_error"][0]
    assert tabular.greedy_episode(Q, mdp)[1] == 5


def test_offline_max_over_unseen_actions_overestimates_and_in_sample_does_not():
    from minirl.baselines import tabular

    mdp = tabular.build_mdp()
    in_data = np.ones(mdp.next_state.shape, bool)
    in_data[:, 0] = False
    Q_data = tabular.offline_value_iteration(
        mdp, in_data, np.zeros(in_data.shape), in_sample=True, sweeps=200
    )[-1]
    Q_init = np.random.default_rng(0).normal(size=in_data.shape)
    naive = tabular.offline_value_iteration(mdp, in_data, Q_init, in_sample=False)[-1]
    in_sample = tabular.offline_value_iteration(mdp, in_data, Q_init, in_sample=True)[-1]
    assert (naive - Q_data)[in_data].max() > 0.3
    np.testing.assert_allclose(in_sample[in_data], Q_data[in_data], atol=1e-6)


def test_pytest_student_mode_grades_the_learners_files(tmp_path):
    """`pytest tests/assignments --student -m lesson08` on a folder where exercise 1 is solved, 2 and 3 untouched."""
    import os
    import subprocess
    import sys

    folder = copy_lessons(tmp_path)
    exercise = folder / "08-choosing-a-method" / "exercise.py"
    solution = (SOLUTIONS / "lesson08__solution.py").read_text()
    stub = exercise.read_text()
    exercise.write_text(
        stub[: stub.index("def normalized_score")]
        + solution[solution.index("def normalized_score") : solution.index("def mean_and_std")]
        + stub[stub.index("def mean_and_std") :]
    )
    env = dict(os.environ, MINIRL_LESSONS_DIR=str(folder))
    env.pop("MINIRL_STUDENT", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/assignments",
            "--student",
            "-m",
            "lesson08",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "2 failed, 1 passed" in result.stdout.splitlines()[-1]
    assert "NotImplementedError: Lesson 08, exercise 2" in result.stdout
    assert "NotImplementedError: Lesson 08, exercise 3" in result.stdout
    assert "lesson 08 · normalized_score" in result.stdout and "not started" in result.stdout
