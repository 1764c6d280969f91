"""``hwprune.cache.exclusive``: the one lock every cache entry, build directory and output parent uses."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest

from hwprune import subprocesses
from hwprune.cache import exclusive


def _hold(path: str, held: "multiprocessing.synchronize.Event", release: "multiprocessing.synchronize.Event") -> None:
    with exclusive(Path(path)):
        held.set()
        release.wait(30)


@pytest.fixture()
def holder(tmp_path: Path):
    """A second process that holds the lock on a path until the test lets it go."""
    context = multiprocessing.get_context("spawn")
    held, release = context.Event(), context.Event()
    started: list = []

    def start(path: Path) -> None:
        process = context.Process(target=_hold, args=(str(path), held, release))
        process.start()
        started.append(process)
        assert held.wait(60), "the holder never took the lock"

    yield start, release
    release.set()
    for process in started:
        process.join(30)


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_a_second_holder_waits_until_the_first_lets_go(tmp_path: Path, holder, kind: str) -> None:
    start, release = holder
    path = tmp_path / ("entry.lock" if kind == "file" else "parent")
    if kind == "directory":
        path.mkdir()
    start(path)
    timer = threading.Timer(0.5, release.set)
    timer.start()
    begun = time.monotonic()
    with exclusive(path):
        waited = time.monotonic() - begun
    timer.join()
    assert waited >= 0.45, f"took the lock after {waited:.2f} s while another process held it"
    if kind == "directory":
        assert list(path.iterdir()) == [], "a directory lock left a file inside the directory"


def test_an_interrupt_ends_the_wait_at_once(tmp_path: Path, holder) -> None:
    start, _ = holder
    path = tmp_path / "entry.lock"
    start(path)
    subprocesses._interrupted.set()  # what interrupt() records, without signalling this test's processes
    try:
        begun = time.monotonic()
        with pytest.raises(KeyboardInterrupt, match="entry.lock"):
            with exclusive(path):
                pass
        assert time.monotonic() - begun < 1.0
    finally:
        subprocesses.reset()


def test_the_lock_is_free_again_after_the_block(tmp_path: Path) -> None:
    path = tmp_path / "entry.lock"
    with exclusive(path):
        pass
    with exclusive(path):  # would wait forever (this process holds no second fd) if the first had leaked
        pass
