"""What a user sees: the progress bars of `minirl train`, `eval` and `compare`, tables that fit a terminal of 80
columns, and how a duration is written ("4 min 12 s").

Each bar says what it counts, refreshes at least once a second, and ends in one line that says how the work ended.
The training bar's total is the step the run will really stop at: cfg.steps, or, when a time budget will end the
run first, the step the budget reaches at the speed measured so far (shown as `~2,400`); its time left is the same
whichever ends the run. Bars draw on rich's console; nested bars (compare's grid around a training run) share it.

Tables (`table`) fold a cell that is too long for its column onto the next line instead of cutting it to `…`.
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

REFRESH_SECONDS = 0.5  # a bar's numbers change at least this often while steps keep finishing


def table(*headers: str, title: str | None = None, caption: str | None = None) -> Table:
    """A rich Table whose cells wrap at spaces and fold long words (paths, dataset names) instead of ending in `…`,
    so every table of minirl is read whole in an 80-column terminal."""
    out = Table(title=title, caption=caption)
    for header in headers:
        out.add_column(header, overflow="fold")
    return out


def fits(renderable, width: int) -> bool:
    """Whether `renderable` (a table) is at most `width` columns wide at its natural width."""
    return Console(width=10_000).measure(renderable).maximum <= width


def setting_text(options: dict) -> str:
    """{"beam_width": 32, "target_return": None} -> "beam_width=32" (an option left at None is not a setting);
    "-" when nothing is set."""
    return ", ".join(f"{k}={v}" for k, v in options.items() if v is not None) or "-"


def duration(seconds: float) -> str:
    """7.5 -> "7.5 s", 252 -> "4 min 12 s", 3900 -> "1 h 05 min"."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = round(seconds)
    if seconds < 3600:
        minutes, secs = divmod(seconds, 60)
        return f"{minutes} min {secs} s" if minutes else f"{secs} s"
    hours, minutes = divmod(seconds // 60, 60)
    return f"{hours} h {minutes:02d} min"


def budget_name(budget_minutes: float) -> str:
    """5 -> "5-minute", 0.5 -> "0.5-minute"."""
    return f"{budget_minutes:g}-minute"


class TrainBar:
    """`minirl train`'s bar: step / the step the run will end at, mean loss since the last refresh, samples/s and
    the time left, from whichever of the step count and the time budget ends the run first.

    steps: the run's last step (cfg.steps); start_step: where this session starts (a resumed run's step);
    deadline: the clock time the budget runs out, or None; clock: seconds, the same clock the loop checks the
    deadline with (a test passes its own to make the budget deterministic)."""

    def __init__(
        self,
        name: str,
        steps: int,
        batch_size: int,
        start_step: int = 0,
        deadline: float | None = None,
        clock=time.monotonic,
        enabled: bool = True,
    ):
        self.steps, self.batch_size, self.start_step = steps, batch_size, start_step
        self.deadline, self.clock = deadline, clock
        self.start = self.last_refresh = clock()
        self.last_step, self.loss_sum, self.loss_count = start_step, 0.0, 0
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=None),
            TextColumn("{task.fields[count]}"),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[sps]} samples/s"),
            TextColumn("{task.fields[eta]} left"),
            disable=not enabled,
            expand=False,
        )
        self.task = self.bar.add_task(
            name,
            total=steps,
            completed=start_step,
            count=f"{start_step:,}/{steps:,}",
            loss="…",
            sps="…",
            eta="…",
        )

    def __enter__(self) -> TrainBar:
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def end_step(self, step: int) -> int:
        """The step this run is expected to end at: steps, or fewer when the budget runs out first at the speed
        measured since this session started (steps per second)."""
        now = self.clock()
        if self.deadline is None or step == self.start_step or now <= self.start:
            return self.steps
        rate = (step - self.start_step) / (now - self.start)
        return max(step, min(self.steps, step + int(rate * max(0.0, self.deadline - now))))

    def seconds_left(self, step: int) -> float | None:
        now = self.clock()
        if step == self.start_step or now <= self.start:
            return None
        rate = (step - self.start_step) / (now - self.start)
        left = (self.steps - step) / rate
        return left if self.deadline is None else min(left, max(0.0, self.deadline - now))

    def update(self, step: int, loss) -> None:
        """After each step: `loss` (a float or a 0-d tensor) joins the running mean; the bar's numbers change at
        the first step, then every REFRESH_SECONDS, and at the run's last step (steps done or budget spent)."""
        self.loss_sum, self.loss_count = self.loss_sum + float(loss), self.loss_count + 1
        now = self.clock()
        last = step >= self.steps or (self.deadline is not None and now >= self.deadline)
        if step != self.start_step + 1 and not last and now - self.last_refresh < REFRESH_SECONDS:
            return
        end, left = self.end_step(step), self.seconds_left(step)
        sps = (step - self.last_step) * self.batch_size / max(1e-9, now - self.last_refresh)
        self.bar.update(
            self.task,
            total=end,
            completed=step,
            count=f"{step:,}/{'~' if end < self.steps else ''}{end:,}",
            loss=f"{self.loss_sum / self.loss_count:.4f}",
            sps=f"{sps:,.0f}",
            eta="…" if left is None else duration(left),
        )
        self.last_refresh, self.last_step, self.loss_sum, self.loss_count = now, step, 0.0, 0


def closing_line(
    step: int,
    steps: int,
    seconds: float,
    checkpoint,
    budget_minutes: float | None = None,
    start_step: int = 0,
) -> str:
    """How a training run ended: "finished 3,000 steps in 4 min 12 s; checkpoint runs/x/checkpoint.pt", or
    "stopped by the 5-minute budget at step 2,375 of 3,000 (...)"; seconds: this session's wall time."""
    resumed = f" (resumed at step {start_step:,})" if start_step else ""
    if step >= steps or budget_minutes is None:
        return f"finished {step:,} steps{resumed} in {duration(seconds)}; checkpoint {checkpoint}"
    return (
        f"stopped by the {budget_name(budget_minutes)} budget at step {step:,} of {steps:,}{resumed} "
        f"after {duration(seconds)}; checkpoint {checkpoint} (continue with --resume)"
    )


def print_line(line: str, enabled: bool = True, console: Console | None = None) -> None:
    """A closing line, as plain text (no rich markup read into paths), where the bar was shown."""
    if enabled:
        from rich import get_console

        (console or get_console()).print(line, markup=False, highlight=False, soft_wrap=True)


class EpisodeBar:
    """`minirl eval`'s bar: episodes finished of all episodes (over every chunk), decisions per second (one per
    running env per step) and the elapsed time; a planning agent's slow steps show as a low decisions/s."""

    def __init__(self, name: str, episodes: int, enabled: bool = True):
        self.episodes, self.decisions, self.start = episodes, 0, time.perf_counter()
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=None),
            TextColumn("{task.completed}/{task.total} episodes"),
            TextColumn("{task.fields[rate]} decisions/s"),
            TimeElapsedColumn(),
            disable=not enabled,
            expand=False,
        )
        self.task = self.bar.add_task(name, total=episodes, rate="…")

    def __enter__(self) -> EpisodeBar:
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def update(self, finished: int, decisions: int) -> None:
        """finished: episodes done so far (all chunks); decisions: agent decisions made in the last step."""
        self.decisions += decisions
        rate = self.decisions / max(1e-9, time.perf_counter() - self.start)
        self.bar.update(self.task, completed=finished, rate=f"{rate:,.1f}")


class GridBar:
    """`minirl compare`'s bar over the whole grid: runs done of dataset × algorithm × seed, and what the current
    run is doing ("dt on babyai-gotolocal, seed 1: training"). A training or eval bar shows below it."""

    def __init__(self, runs: int, enabled: bool = True):
        self.bar = Progress(
            TextColumn("compare"),
            BarColumn(bar_width=None),
            TextColumn("{task.completed}/{task.total} runs"),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            disable=not enabled,
            expand=False,
        )
        self.task = self.bar.add_task("", total=runs)

    def __enter__(self) -> GridBar:
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def status(self, text: str, done: int | None = None) -> None:
        self.bar.update(
            self.task, description=text, **({} if done is None else {"completed": done})
        )
