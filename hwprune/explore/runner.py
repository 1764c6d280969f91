"""Where sweep work runs: in this process, on a local process pool (default) or on Ray.

No home-made scheduler (docs/architecture.md section 7): ``concurrent.futures`` for the pool, Ray's remote
tasks for a cluster. The three give the same results in the same order — work is a pure function of
its arguments and results are put back by position — so explore.json does not depend on where it ran.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Callable, Sequence, TypeVar

from hwprune.errors import HwpruneError

__all__ = ["ExecutorError", "Progress", "run_all"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
Progress = Callable[[int, int], None]
"""Called with (done, total) after every finished item."""


class ExecutorError(HwpruneError):
    """The worker pool or the Ray cluster could not run the sweep."""


def _inline(fn: Callable[[T], R], items: Sequence[T], progress: Progress) -> list[R]:
    results = []
    for item in items:
        results.append(fn(item))
        progress(len(results), len(items))
    return results


def _pool(fn: Callable[[T], R], items: Sequence[T], workers: int, progress: Progress) -> list[R]:
    # spawn, not fork: the parent may hold torch's thread pools, which a fork copies half-initialised
    context = multiprocessing.get_context("spawn")
    results: list[Any] = [None] * len(items)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        pending = {pool.submit(fn, item): position for position, item in enumerate(items)}
        done = 0
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                results[pending.pop(future)] = future.result()
                done += 1
                progress(done, len(items))
    return results


def _ray_connect(address: str, workers: int) -> bool:
    """Connect (or start a local instance for ``local``); True if this call started Ray."""
    try:
        import ray
    except ImportError:
        raise ExecutorError("--ray needs the 'ray' package: pip install ray") from None
    if ray.is_initialized():
        return False
    try:
        if address == "local":
            ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, log_to_driver=False,
                     logging_level=logging.WARNING)
        else:
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExecutorError(f"cannot connect to Ray at {address!r}: {first}") from None
    return True


def _ray(fn: Callable[[T], R], items: Sequence[T], address: str, workers: int, progress: Progress) -> list[R]:
    started = _ray_connect(address, workers)
    import ray

    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(fn)
        refs = [remote.remote(item) for item in items]
        position = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(items)
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for ref in ready:
                results[position[ref]] = _ray_get(ray, ref)
            progress(len(items) - len(pending), len(items))
        return results
    finally:
        if started:
            ray.shutdown()


def _ray_get(ray: Any, ref: Any) -> Any:
    """The task's value; a user error raised inside a task is re-raised as itself, not Ray's wrapper."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.as_instanceof_cause()
        if isinstance(cause, HwpruneError):
            raise HwpruneError(cause.message) from None
        raise


def run_all(fn: Callable[[T], R], items: Sequence[T], *, workers: int = 0, ray: str | None = None,
            progress: Progress | None = None) -> list[R]:
    """``[fn(item) for item in items]``, run in parallel; ``workers`` 1 runs here, 0 one per CPU."""
    report = progress or (lambda done, total: log.info("explore: %d/%d", done, total))
    if not items:
        return []
    if ray is not None:
        return _ray(fn, items, ray, workers, report)
    count = min(workers or os.cpu_count() or 1, len(items))
    if count <= 1:
        return _inline(fn, items, report)
    return _pool(fn, items, count, report)
