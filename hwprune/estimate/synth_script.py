"""The Yosys scripts of an estimate: the standard ``synth_xilinx``, and the same passes without the
block-RAM techmap when nothing needs it.

Why two: measured with Yosys's ``-t``, every ``synth_xilinx`` run spends about 2 s (of 3.4 s for an
8x8 multiplier) in its ``map_memory`` step's ``techmap -map +/xilinx/brams_<family>_map.v``, because
techmap reads the map file without ``-defer`` and so elaborates the block-RAM map modules at their
default parameters, whether or not the design has a block RAM. The *fast* script runs
``synth_xilinx`` up to ``map_memory``, then that step's own ``memory_libmap`` and its other techmaps
(LUT RAM, UltraRAM; read from this Yosys by :func:`memory_step`, so they follow its version and
family), then asserts that ``memory_libmap`` made no cell the block-RAM techmap would map, and continues from
``map_ffram``: the same passes on the same design, minus a techmap with nothing to do. A design that
does get a block RAM fails the assertion (:data:`NEEDS_BRAM`) and is synthesised with the standard
script instead.

The two scripts are not always cell-for-cell equal: elaborating the map modules changes Yosys's
internal name tables, and ABC's LUT mapping is sensitive to that order (measured: the digits MLP's
``fc2`` kernel maps to 43 fewer LUTs of 790 with the fast script; ``fc1`` is identical; DSPs, FFs
and LUT-RAMs equal in both). Either is a real synthesis of the kernel; which one produced a figure
is part of its cache key.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from pathlib import Path

from hwprune import subprocesses
from hwprune.cache import tool_cache_environment

__all__ = ["standard_script", "fast_script", "memory_step", "NEEDS_BRAM", "MemoryStep"]

_PRE = "hwprune_pre"
"""The cells of type ``$__*`` before map_memory, kept as a named selection."""

NEEDS_BRAM = f"@{_PRE}"
"""The selection the fast script's assertion names: Yosys's error output carries it when, and only when,
that assertion fails (the design has a block RAM)."""

MemoryStep = tuple[str, ...]
"""``synth_xilinx``'s map_memory step without its block-RAM techmap: the ``memory_libmap`` command, then the
other techmaps in their order (LUT RAM; UltraRAM on UltraScale+)."""

_STEP_FORMAT = 2
"""Bump when :func:`_parse_step` changes, so no step parsed by an older rule is read back from the cache."""

_lock = threading.Lock()
_steps: dict[tuple[str, str], MemoryStep | None] = {}


def _reads(files: list[str], blackboxes: list[str]) -> str:
    return "; ".join([f"read_verilog -sv -lib {name}" for name in blackboxes]
                     + [f"read_verilog -sv {name}" for name in files])


def standard_script(files: list[str], top: str, family: str, blackboxes: list[str]) -> str:
    """``synth_xilinx`` (or generic ``synth``) of ``top``, flattened, then ``stat -json``."""
    synth = f"synth -top {top} -flatten" if family == "generic" else f"synth_xilinx -family {family} -top {top} -flatten"
    return f"{_reads(files, blackboxes)}; {synth}; tee -q -o stat.json stat -json"


def fast_script(files: list[str], top: str, family: str, blackboxes: list[str], step: MemoryStep) -> str:
    """The standard script's passes without the block-RAM techmap, asserting it had nothing to map."""
    synth = f"synth_xilinx -family {family} -top {top} -flatten"
    return "; ".join([
        _reads(files, blackboxes), f"{synth} -run :map_memory", f"select -set {_PRE} t:$__*", *step,
        f"select -assert-none t:$__* {NEEDS_BRAM} %d", f"{synth} -run map_ffram:", "tee -q -o stat.json stat -json",
    ])


def _parse_step(log: str) -> MemoryStep | None:
    """The map_memory commands ``echo on`` printed, less the block-RAM techmap; None unless they are one
    ``memory_libmap`` then techmaps of which exactly one maps block RAMs (then only the standard script runs)."""
    commands = [line.split("> ", 1)[1].strip() for line in log.splitlines()
                if line.startswith("yosys") and "> " in line]
    commands = [c for c in commands if not c.startswith("synth_xilinx")]
    if len(commands) < 2 or not commands[0].startswith("memory_libmap "):
        return None
    maps = commands[1:]
    if not all(c.startswith("techmap -map ") for c in maps) or sum("/brams_" in c for c in maps) != 1:
        return None
    return (commands[0], *[c for c in maps if "/brams_" not in c])


def memory_step(yosys: list[str], version: str, family: str, cache: Path, timeout_s: int = 600) -> MemoryStep | None:
    """``synth_xilinx``'s map_memory commands for ``family`` as this Yosys runs them (asked once per
    Yosys version and family, then kept under ``cache``); None for ``generic`` or an unexpected step."""
    if family == "generic":
        return None
    key = (version, family)
    with _lock:
        if key in _steps:
            return _steps[key]
        name = hashlib.sha256(json.dumps([_STEP_FORMAT, version, family]).encode()).hexdigest()[:24]
        path = cache / "synth_xilinx" / f"map_memory-{family}-{name}.json"
        if path.is_file():
            step = json.loads(path.read_text())
            _steps[key] = tuple(step) if step else None
            return _steps[key]
        script = f"echo on; synth_xilinx -family {family} -run map_memory:map_ffram"
        try:
            result = subprocesses.run([*yosys, "-p", script], env={**os.environ, **tool_cache_environment()},
                                      timeout=timeout_s)
        except (OSError, subprocess.TimeoutExpired):
            _steps[key] = None
            return None
        found = _parse_step(result.stdout) if result.returncode == 0 else None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}-{threading.get_ident()}")
        tmp.write_text(json.dumps(list(found) if found else None))
        tmp.replace(path)
        _steps[key] = found
        return found
