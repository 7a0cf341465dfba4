"""What the user sees while a model is pulled or converted: one rich display, transformers quiet.

`PullSteps` is the step-by-step progress display of `pull` (on stderr; nothing at all with
`enabled=False`). `quiet_transformers` silences transformers' own bars and logs while it runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


class PullSteps:
    """Rich progress display (on stderr): one line per step, a bar where the total is known."""

    def __init__(self, enabled: bool, title: str):
        self.enabled = enabled
        self.title = title
        self._progress: Any = None
        self._task: Any = None
        self._unit = ""

    def __enter__(self) -> PullSteps:  # noqa: PYI034
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(finished_text="[green]ok[/]"),
                TextColumn("{task.description}"),
                BarColumn(bar_width=30),
                TextColumn("{task.fields[amount]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=False,
            )
            self._progress.__enter__()
            self._progress.console.print(self.title, highlight=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def start(self, desc: str, total: float | None = None, unit: str = "") -> None:
        """Begin a step (finishing the previous one); `unit` "B" shows byte counts."""
        self.done()
        if self._progress is None:
            return
        self._unit = unit
        self._task = self._progress.add_task(desc, total=total, amount="")

    def set_total(self, total: float) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=total)

    def advance(self, n: float) -> None:
        if self._progress is None or self._task is None:
            return
        self._progress.advance(self._task, n)
        t = self._progress.tasks[self._task]
        if t.total:
            if self._unit == "B":
                amount = f"{t.completed / 1e6:.0f}/{t.total / 1e6:.0f} MB"
            else:
                amount = f"{t.completed:.0f}/{t.total:.0f}"
            self._progress.update(self._task, amount=amount)

    def done(self) -> None:
        if self._progress is not None and self._task is not None:
            t = self._progress.tasks[self._task]
            self._progress.update(self._task, total=t.total or 1, completed=t.total or 1)
            self._task = None


@contextlib.contextmanager
def quiet_transformers(steps: PullSteps | None = None) -> Iterator[None]:
    """Silence transformers' progress bars and info/warning logs while our own display runs.

    Uses transformers' own switches (`utils.logging.disable_progress_bar()`,
    `set_verbosity_error()`), restored on exit. One bar has no switch: the GGUF dequantisation
    loop calls a bare `tqdm.auto.tqdm` (module `transformers.modeling_gguf_pytorch_utils`,
    transformers 5.x) that ignores `disable_progress_bar()`, and tqdm reads its `TQDM_DISABLE`
    environment default only once, at import. So, for the duration of the block only, that
    module's `tqdm` name is pointed at a silent iterator that reports to `steps` (the rich
    display then shows real per-tensor progress); if the module layout changes, its bar is
    simply left alone.
    """
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_mod
    except Exception:  # noqa: BLE001 - module layout changed: just leave its bar alone
        gguf_mod = None
    orig = getattr(gguf_mod, "tqdm", None)

    def _silent_tqdm(iterable: Any = None, *args: Any, **kwargs: Any) -> Iterator[Any]:
        items = list(iterable) if iterable is not None else []
        if steps is not None:
            steps.set_total(len(items))
        for x in items:
            yield x
            if steps is not None:
                steps.advance(1)

    if orig is not None:
        gguf_mod.tqdm = _silent_tqdm
    try:
        yield
    finally:
        if orig is not None:
            gguf_mod.tqdm = orig
        hf_logging.set_verbosity(verbosity)
        if was_enabled:
            hf_logging.enable_progress_bar()
