"""Independent /proc readers for the interrupt tests (they must not trust ``hwprune.subprocesses``'s own)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["proc_stat", "in_sessions"]


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
