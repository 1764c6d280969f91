"""Model names are data: turn them into legal, unique Verilog/C++ identifiers.

ONNX node names like ``/fc0/Gemm`` or hostile ones like ``../../x`` or ``module`` must never reach
generated code or file names as they are.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["identifier", "unique_identifiers", "RESERVED"]

MAX_LENGTH = 48

RESERVED = frozenset(
    # Verilog/SystemVerilog keywords that could plausibly come out of a layer name
    "always and assign automatic begin buf case casex casez cell config deassign default defparam design "
    "disable edge else end endcase endconfig endfunction endgenerate endmodule endprimitive endspecify "
    "endtable endtask event for force forever fork function generate genvar highz0 highz1 if ifnone "
    "incdir include initial inout input instance integer join large liblist library localparam logic "
    "macromodule medium module nand negedge nmos nor not or output parameter pmos posedge primitive pull0 "
    "pull1 pulldown pullup rcmos real realtime reg release repeat rnmos rpmos rtran rtranif0 rtranif1 "
    "scalared signed small specify specparam strong0 strong1 supply0 supply1 table task time tran tranif0 "
    "tranif1 tri tri0 tri1 triand trior trireg unsigned use vectored wait wand weak0 weak1 while wire wor "
    "xnor xor bit byte int shortint longint struct union typedef enum interface class package import export "
    # C++ keywords and common macros
    "alignas alignof asm auto bool break catch char char16_t char32_t const constexpr const_cast continue "
    "decltype delete do double dynamic_cast explicit extern false float friend goto inline long mutable "
    "namespace new noexcept nullptr operator private protected public register reinterpret_cast return "
    "short sizeof static static_assert static_cast switch template this thread_local throw true try typeid "
    "typename unsigned using virtual void volatile wchar_t main".split()
)


def identifier(name: str, prefix: str = "n") -> str:
    """A legal identifier derived from ``name`` (not yet unique)."""
    text = re.sub(r"[^A-Za-z0-9_]", "_", name)
    text = re.sub(r"_+", "_", text).strip("_")
    if not text or text[0].isdigit() or text.lower() in RESERVED or text.startswith("_"):
        text = f"{prefix}_{text}" if text else prefix
    if len(text) > MAX_LENGTH or text != name:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:6]
        if len(text) > MAX_LENGTH:
            text = f"{text[: MAX_LENGTH - 7]}_{digest}"
    return text


def unique_identifiers(names: list[str], prefix: str = "n") -> list[str]:
    """Identifiers for ``names`` in order, made unique with numeric suffixes (deterministic)."""
    taken: set[str] = set()
    result = []
    for name in names:
        base = identifier(name, prefix)
        candidate, index = base, 1
        while candidate.lower() in taken:
            candidate = f"{base}_{index}"
            index += 1
        taken.add(candidate.lower())
        result.append(candidate)
    return result
