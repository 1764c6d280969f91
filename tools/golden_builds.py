"""Record (or check) the sha256 of every file in the builds of the bundled examples.

Why: refactors must not change what a user gets. ``tests/golden/build_digests.json`` holds the digest
of every file of a default ``hwprune compile`` (zcu102) of each model below, the bundled examples
without Yosys estimates (``--no-estimate``: the generators are what may depend on hash seeds; Yosys's
figures are keyed by the Verilog's content and checked by the estimate tests) and the token model with
them; the determinism and token-compile tests compare fresh builds against it. After a change that is *meant* to alter the
generated files, rerun ``python tools/golden_builds.py --write`` and say why in the commit.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "build_digests.json"
EXAMPLES = {
    "mlp": ROOT / "examples" / "mlp_digits.onnx",
    "cnn": ROOT / "examples" / "cnn_digits.onnx",
    "qonnx": ROOT / "examples" / "mlp_digits_qonnx.onnx",
    "pruned_qonnx": ROOT / "examples" / "mlp_digits_pruned_qonnx.onnx",
}


def digests(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def compile_digests(model: Path, out: Path, *options: str) -> dict[str, str]:
    """Digests of a compile of ``model`` into ``out`` with ``options`` (a fresh subprocess, as a user runs it)."""
    result = subprocess.run([sys.executable, "-m", "hwprune.cli", "compile", str(model), "--board", "zcu102",
                             "-o", str(out), *options], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise SystemExit(f"compile of {model} failed:\n{result.stderr[-3000:]}")
    return digests(out)


def token_model(directory: Path) -> Path:
    """The token-selector test model (tests/sim/token_model.py), written into ``directory``."""
    sys.path.insert(0, str(ROOT / "tests" / "sim"))
    from token_model import write_token_model

    return write_token_model(directory)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="record the digests instead of checking them")
    args = parser.parse_args()
    found: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        models = dict(EXAMPLES, tokens=token_model(Path(tmp) / "tokens"))
        for name, model in models.items():
            options = ("--no-estimate",) if name in EXAMPLES else ()
            found[name] = compile_digests(model, Path(tmp) / f"build-{name}", *options)
            print(f"{name}: {len(found[name])} files")
    if args.write:
        GOLDEN.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
        return 0
    golden = json.loads(GOLDEN.read_text())
    bad = [f"{name}/{path}" for name in golden for path in sorted(set(golden[name]) | set(found.get(name, {})))
           if golden[name].get(path) != found.get(name, {}).get(path)]
    for line in bad:
        print(f"differs: {line}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
