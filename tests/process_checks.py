"""Independent /proc readers for the interrupt tests (they must not trust ``hwprune.subprocesses``'s own),
and the one driver both interrupt test files use: start a command, wait until it is where the test wants
it, signal it, and time its exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hwprune.subprocesses import descendants

__all__ = ["proc_stat", "in_sessions", "Signalled", "signal_when_ready"]


def proc_stat(pid: int) -> list[bytes] | None:
    """/proc/PID/stat fields after the command name: state, ppid, pgrp, session, …; None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].split()


def in_sessions(sessions: set[int]) -> list[int]:
    """Live processes of these sessions (an orphan keeps its session after its parent is gone)."""
    found = []
    for name in os.listdir("/proc"):
        fields = proc_stat(int(name)) if name.isdigit() else None
        if fields is not None and fields[0] != b"Z" and int(fields[3]) in sessions:
            found.append(int(name))
    return found


@dataclass(frozen=True)
class Signalled:
    """How a signalled command ended: exit code, stderr, seconds from the signal to the exit, and the
    processes (``family``) and sessions it had when the signal was sent."""

    returncode: int
    stderr: str
    latency: float
    family: list[int]
    sessions: set[int]


def signal_when_ready(command: list[str], env: dict[str, str], ready: Callable[[int], bool], signame: str,
                      what: str, record: dict[str, str]) -> Signalled:
    """Run ``command`` in its own session; once ``ready(pid)``, send ``signame`` and wait for the exit.
    SIGINT is sent to a command whose parent ignores it (a background job of a non-interactive shell:
    Python installs no handler then). ``record`` is appended with the latency to the JSON-lines file
    ``$HWPRUNE_INTERRUPT_TIMINGS`` when set (the measurement behind the issue's 2 s bound)."""
    if signame == "SIGINT":
        command = ["sh", "-c", 'trap "" INT && exec "$@"', "sh", *command]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not ready(proc.pid):
            assert proc.poll() is None, f"{what} ended before it was ready: {proc.communicate()[1]}"
            assert time.monotonic() < deadline, f"{what} was never ready"
            time.sleep(0.005)
        family = descendants(proc.pid)
        sessions = {proc.pid} | {int(f[3]) for f in map(proc_stat, family) if f is not None}
        sent = time.monotonic()
        proc.send_signal(getattr(signal, signame.split("-")[0]))
        _, stderr = proc.communicate(timeout=60)
        latency = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    timings = os.environ.get("HWPRUNE_INTERRUPT_TIMINGS")
    if timings:
        with open(timings, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({**record, "signal": signame, "latency_s": latency}) + "\n")
    return Signalled(proc.returncode, stderr, latency, family, sessions)
