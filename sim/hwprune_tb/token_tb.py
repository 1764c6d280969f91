"""cocotb tests of the hardware token selector: replays a case written by ``hwprune.tokens.vectors``.

The stream driver, monitor, scoreboard and cycle checker are the library's (``streams``, ``checks``,
``stream_tb.replay``); beats are the selector's 10-bit payloads (data, last, package). On top of the
beat-for-beat comparison, every received beat stream is split into token sets and checked for the
selector's invariants, so a failure says "set 12, token 3" rather than only "beat 1234":

* ``token_timed``: always-ready sink; values bit-exact with the integer reference (``IntSelector``) and
  every beat's cycle equal to the cycle model (``hwprune.tokens.cycles``);
* ``token_backpressure``: random-ready sink; values bit-exact, in order, none lost or duplicated.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import cocotb

from hwprune_tb.checks import CycleChecker, Scoreboard, summary
from hwprune_tb.stream_tb import load_case, replay


def split_sets(beats: Sequence[int]) -> list[list[int]]:
    """Beats → sets (a set ends with the beat whose ``last`` bit [8] is set)."""
    sets, current = [], []
    for beat in beats:
        current.append(beat)
        if beat >> 8 & 1:
            sets.append(current)
            current = []
    if current:
        sets.append(current)
    return sets


def set_errors(case: dict[str, Any], received: Sequence[int]) -> list[str]:
    """Per-set comparison with the expected beats plus the selector's invariants on what was received."""
    dim = int(case["dim"])
    want_sets, got_sets = split_sets(case["expected"]), split_sets(received)
    in_sets = split_sets(case["inputs"])
    errors = []
    if len(got_sets) != len(want_sets):
        errors.append(f"{len(got_sets)} token sets received, {len(want_sets)} expected")
    for s, (want, got, given) in enumerate(zip(want_sets, got_sets, in_sets)):
        if len(got) % dim:
            errors.append(f"set {s}: {len(got)} beats, not a whole number of {dim}-element tokens")
            continue
        tokens = len(got) // dim
        packages = [t for t in range(tokens) if any(b >> 9 & 1 for b in got[t * dim:(t + 1) * dim])]
        if tokens > len(given) // dim:
            errors.append(f"set {s}: {tokens} tokens out of {len(given) // dim} in (the count grew)")
        if got[:dim] != [b & 0xFF for b in given[:dim]]:
            errors.append(f"set {s}: the class token is not the first token out")
        if len(packages) > 1 or (packages and packages[0] != tokens - 1):
            errors.append(f"set {s}: package tokens at {packages} (at most one, last)")
        for index, (w, g) in enumerate(zip(want, got)):
            if w != g:
                errors.append(f"set {s}, token {index // dim}, channel {index % dim}: expected "
                              f"{_show(w)}, received {_show(g)}")
                break
        if len(want) != len(got):
            errors.append(f"set {s}: {len(got) // dim} tokens received, {len(want) // dim} expected")
    return errors


def _show(beat: int) -> str:
    value = beat & 0xFF
    return f"{value - 256 if value > 127 else value}{' last' if beat >> 8 & 1 else ''}{' pkg' if beat >> 9 & 1 else ''}"


@cocotb.test()
async def token_timed(dut: Any) -> None:
    """Bit-exact and cycle-exact with an always-ready sink."""
    case, monitor = await replay(dut, 1.0, 0)
    received = [value for _, value in monitor.beats]
    trace = os.environ.get("HWPRUNE_TB_TRACE")
    if trace:
        Path(trace).write_text(json.dumps({"beats": monitor.beats}) + "\n", encoding="utf-8")
    board = Scoreboard(case["expected"])
    board.check(received)
    errors = set_errors(case, received) + board.errors
    checker = CycleChecker(case["expected_cycles"])
    checker.check([cycle for cycle, _ in monitor.beats])
    errors += checker.errors
    assert not errors, f"{case['name']}: {summary(errors)}"
    dut._log.info("%s: %d sets, %d beats bit-exact and cycle-exact", case["name"], case["sets"], len(received))


@cocotb.test()
async def token_backpressure(dut: Any) -> None:
    """Bit-exact, in order, nothing lost or duplicated, with a random-ready sink."""
    bp = load_case()["backpressure"]
    case, monitor = await replay(dut, bp["ready_probability"], bp["seed"])
    received = [value for _, value in monitor.beats]
    board = Scoreboard(case["expected"])
    board.check(received)
    errors = set_errors(case, received) + board.errors
    assert not errors, f"{case['name']} (backpressure): {summary(errors)}"
