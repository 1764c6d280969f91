"""The g++ C-simulation of a token-selector HLS project (``hwprune.tokens.hls_writer`` writes it).

Why apart from the writer: writing the project is the HLS backend's job; building and running it is the
simulator's (``hwprune.sim.csim.compile_cpp``), a later stage.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from hwprune import subprocesses
from hwprune.sim.csim import compile_cpp
from hwprune.tokens.hls_writer import TOKEN_MANIFEST

__all__ = ["run_token_csim", "TokenCsimResult"]


@dataclass(frozen=True)
class TokenCsimResult:
    """Per top: (sets run, failing sets); ``passed`` only when every top ran every set bit-exact."""

    passed: bool
    tops: dict[str, tuple[int, int]]
    compile_seconds: float
    log: str


def run_token_csim(out_dir: Path, opt: str = "-O1", defines: Sequence[str] = ()) -> TokenCsimResult:
    """Build the testbench with g++ (-Wall -Wextra -Werror, ap_types from hls4ml) and run every top."""
    root = Path(out_dir)
    manifest = json.loads((root / TOKEN_MANIFEST).read_text(encoding="utf-8"))
    project = manifest["project"]
    built = compile_cpp([root / "firmware" / f"{project}.cpp", root / "tb" / f"tb_{project}.cpp"],
                        root / "csim" / f"tb_{project}", include_dirs=[root / "firmware" / "include"],
                        defines=defines, opt=opt)
    start = time.perf_counter()
    proc = subprocesses.run([str(built.binary), "--data", str(root / "tb" / "data"), "--out", str(root / "csim")],
                            timeout=600)
    tops = {name: (int(n), int(bad)) for name, n, bad in
            re.findall(r"^RESULT (\S+) vectors=(\d+) failing=(\d+)$", proc.stdout, re.M)}
    expected = {s["ident"] for s in manifest["selectors"]}
    passed = proc.returncode == 0 and set(tops) == expected and all(bad == 0 for _, bad in tops.values())
    return TokenCsimResult(passed, tops, built.seconds + time.perf_counter() - start, proc.stdout + proc.stderr)
