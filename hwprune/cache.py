"""Where hwprune keeps caches — decided here, once, instead of by environment reads deep in the code.

Caches hold only what is derived from inputs and can be rebuilt (Yosys statistics keyed by content
hash, the compiled Yosys WebAssembly, Verilator's runtime objects, matplotlib's font list); builds
never depend on them. The root is, first match wins:

1. ``HWPRUNE_CACHE_DIR`` (a CI or a sandbox points every cache into its own tree with one variable),
2. ``$XDG_CACHE_HOME/hwprune``,
3. ``~/.cache/hwprune``.

Third-party tools that keep their own caches under ``~`` (YoWASP, matplotlib) are pointed into this
root through :func:`tool_cache_environment`, unless the user already set their variables.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path
from typing import Iterator

from hwprune import subprocesses

__all__ = ["cache_root", "cache_dir", "tool_cache_environment", "use_tool_caches", "exclusive"]

CACHE_ENV = "HWPRUNE_CACHE_DIR"


def cache_root() -> Path:
    """The absolute root of every hwprune cache (see the module docstring for the order)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return (Path(base).expanduser() / "hwprune").resolve()


def cache_dir(name: str) -> Path:
    """``cache_root()/name`` — one sub-directory per kind of cache (not created here)."""
    return cache_root() / name


def tool_cache_environment() -> dict[str, str]:
    """Variables that keep YoWASP's and matplotlib's caches under :func:`cache_root`.

    Absolute paths on purpose: Yosys runs in a scratch directory, where a relative YoWASP cache would
    recompile the WebAssembly (about 2 min) on every run.
    """
    env = {}
    for variable, name in (("YOWASP_CACHE_DIR", "yowasp"), ("MPLCONFIGDIR", "matplotlib")):
        value = os.environ.get(variable)
        env[variable] = str(Path(value).resolve()) if value else str(cache_dir(name))
    return env


def use_tool_caches() -> None:
    """Set :func:`tool_cache_environment` in this process (before matplotlib is first imported)."""
    for variable, value in tool_cache_environment().items():
        os.environ[variable] = value


POLL_S = 0.05
"""Seconds between tries of a held lock."""


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (a lock file, created if missing, or a directory, so no
    lock file is left beside a user's files) for the block: one process at a time per cache entry, build
    directory or output parent. The kernel drops the lock if the holder dies.

    Polled rather than blocking, and aborted with ``KeyboardInterrupt`` once an interrupt was seen: a
    compile interrupted while another process holds the lock must still exit at once (the CLI's handler
    only records the interrupt; a blocking ``flock`` would be restarted after it, PEP 475)."""
    path = Path(path)
    fd = os.open(path, os.O_RDONLY) if path.is_dir() else os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if subprocesses.interrupted():
                    raise KeyboardInterrupt(f"interrupted while waiting for the lock on {path}") from None
                time.sleep(POLL_S)
        yield
    finally:
        os.close(fd)  # closing releases the lock
