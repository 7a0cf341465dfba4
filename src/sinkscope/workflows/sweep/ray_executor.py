"""The Ray executor: one Ray task per (model, shard of up to `shard_size` pending prompts).

On an existing cluster (`ray_address`) or a local instance (`ray.init(num_cpus=2)`). Each task
loads its model, writes its own parts and completion records into the store (which must be on a
file system every node sees) and returns; the driver only schedules pending work and watches
progress. Ray is optional (`pip install 'sinkscope[ray]'`): it is imported when this executor runs.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sinkscope.analysis.config import AnalysisConfig
from sinkscope.core.errors import InputError, SinkscopeError
from sinkscope.workflows.sweep.store import SweepStore
from sinkscope.workflows.sweep.units import Pending, Unit, count_files, run_units


def _ray_shard(ref: str, label: str, dtype: str, units: list[Unit], root: str, cfg_dict: dict,
               generate: int, chat: bool, on_error: str) -> list[tuple[str, str, str | None]]:
    """Body of one Ray task: load the model, scan the shard, write parts + completion records."""
    from sinkscope.models.loading import load_model

    out: list[tuple[str, str, str | None]] = []
    lm = load_model(ref, dtype=dtype)
    run_units(lm, units, SweepStore(root), AnalysisConfig.from_dict(cfg_dict), generate=generate, chat=chat,
              on_error=on_error, executor="ray", on_unit=lambda u, s, m: out.append((u.key, s, m)))
    return out


def _ray_error(e: BaseException) -> BaseException:
    """The user-facing error behind a Ray exception (the task's own SinkscopeError when it has one)."""
    cause = getattr(e, "cause", None)
    if isinstance(cause, SinkscopeError):
        return type(cause)(str(cause))
    if isinstance(e, SinkscopeError):
        return SinkscopeError(str(e).splitlines()[-1] if str(e) else type(e).__name__)
    name = type(e).__name__
    return SinkscopeError(
        f"a Ray task failed ({name}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}); "
        "completed prompts are kept: re-run the same command to resume."
    )


def run_ray(work: Pending) -> None:
    """Run `work` as Ray tasks (see the module docstring)."""
    store, models, pending, opts = work.store, work.models, work.pending, work.opts
    try:
        import ray
    except ImportError:
        raise InputError(
            "--executor ray needs Ray, which is not installed: pip install 'sinkscope[ray]' (or pip install ray)."
        ) from None
    if not any(pending.values()):
        return
    started = False
    if not ray.is_initialized():
        import logging

        try:
            if opts.ray_address:
                ray.init(address=opts.ray_address, logging_level=logging.WARNING)
            else:
                ray.init(num_cpus=opts.num_cpus or 2, include_dashboard=False, logging_level=logging.WARNING,
                         log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = opts.ray_address or "a local Ray instance"
            raise InputError(f"cannot start or reach Ray at {where} ({e}); check --ray-address.") from None
        started = True
    task = ray.remote(num_cpus=1)(_ray_shard)
    futures: dict[Any, tuple[str, list[Unit]]] = {}
    unfinished: list[Any] | None = None  # futures ray.wait has not returned yet (None: still submitting)
    root = str(store.root.resolve())
    try:
        for label, ref, _ in models:
            units = pending[label]
            for i in range(0, len(units), opts.shard_size):
                shard = units[i : i + opts.shard_size]
                fut = task.remote(ref, label, opts.dtype, shard, root, work.cfg.to_dict(),
                                  opts.generate, opts.chat, opts.on_error)
                futures[fut] = (label, shard)
            if units:
                work.tell(label, "scanning")
        unfinished = list(futures)
        while unfinished:
            ready, unfinished = ray.wait(unfinished, num_returns=1, timeout=0.5)
            for fut in ready:
                label, shard = futures[fut]
                try:
                    results = ray.get(fut)
                except Exception as e:  # noqa: BLE001 - RayTaskError wraps the task's exception
                    raise _ray_error(e) from None
                for _key, status, msg in results:
                    work.report.count(status, msg)
            for label, _, _ in models:
                if pending[label]:
                    work.tell(label, "scanning", min(count_files(store, label), work.totals[label]))
    except BaseException:
        # Cancel only the tasks not seen finished, and without force: force-cancelling a task whose
        # reply is in flight (e.g. the one that just failed) trips a fatal check inside Ray's driver
        # ("Tried to complete task that was not pending"), which kills the whole process with exit
        # code 1 some time later. A non-forced cancel interrupts a running task in its own worker,
        # so its reply still arrives through the normal path.
        for fut in list(futures) if unfinished is None else unfinished:
            with contextlib.suppress(Exception):  # finished or gone meanwhile
                ray.cancel(fut, force=False)
        raise
    finally:
        if started:
            ray.shutdown()
    for label, _, _ in models:
        work.tell(label, "done", work.totals[label])
