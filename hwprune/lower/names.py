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
    # SystemVerilog-2017 and C++20 keywords, C library macros, main — compared in lower case
    (
     "accept_on alias alignas alignof always always_comb always_ff always_latch and and_eq asm assert "
     "assign assume auto automatic before begin bind bins binsof bit bitand bitor bool break buf bufif0 "
     "bufif1 byte case casex casez catch cell chandle char char16_t char32_t char8_t checker class "
     "clocking cmos co_await co_return co_yield compl concept config const const_cast consteval constexpr "
     "constinit constraint context continue cover covergroup coverpoint cross deassign decltype default "
     "defparam delete design disable dist do double dynamic_cast edge else end endcase endchecker endclass "
     "endclocking endconfig endfunction endgenerate endgroup endinterface endmodule endpackage "
     "endprimitive endprogram endproperty endsequence endspecify endtable endtask enum eof errno event "
     "eventually expect explicit export extends extern false final first_match float for force foreach "
     "forever fork forkjoin friend function generate genvar global goto highz0 highz1 if iff ifnone "
     "ignore_bins illegal_bins implements implies import incdir include initial inline inout input inside "
     "instance int integer interconnect interface intersect join join_any join_none large let liblist "
     "library local localparam logic long longint macromodule main matches medium modport module mutable "
     "namespace nand negedge nettype new nexttime nmos noexcept nor noshowcancelled not not_eq notif0 "
     "notif1 null nullptr operator or or_eq output package packed parameter pmos posedge primitive "
     "priority private program property protected public pull0 pull1 pulldown pullup pulsestyle_ondetect "
     "pulsestyle_onevent pure rand randc randcase randsequence rcmos real realtime ref reg register "
     "reinterpret_cast reject_on release repeat requires restrict return rnmos rpmos rtran rtranif0 "
     "rtranif1 s_always s_eventually s_nexttime s_until s_until_with scalared sequence short shortint "
     "shortreal showcancelled signed sizeof small soft solve specify specparam static static_assert "
     "static_cast stderr stdin stdout string strong strong0 strong1 struct super supply0 supply1 switch "
     "sync_accept_on sync_reject_on table tagged task template this thread_local throughout throw time "
     "timeprecision timeunit tran tranif0 tranif1 tri tri0 tri1 triand trior trireg true try type typedef "
     "typeid typename union unique unique0 unsigned until until_with untyped use using uwire var vectored "
     "virtual void volatile wait wait_order wand wchar_t weak weak0 weak1 while wildcard wire with within "
     "wor xnor xor xor_eq "
    ).split()
)


def identifier(name: str, prefix: str = "n") -> str:
    """A legal identifier derived from ``name`` (not yet unique)."""
    text = re.sub(r"[^A-Za-z0-9_]", "_", name)
    text = re.sub(r"_+", "_", text).strip("_")
    if not text or text[0].isdigit() or text.lower() in RESERVED or text.startswith("_"):
        text = f"{prefix}_{text}" if text else prefix
    if len(text) > MAX_LENGTH:
        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:6]
        text = f"{text[: MAX_LENGTH - 7].rstrip('_')}_{digest}"  # no '__': C++ reserves it
    return text


def unique_identifiers(names: list[str], prefix: str = "n") -> list[str]:
    """Identifiers for ``names`` in order, made unique with numeric suffixes (deterministic)."""
    taken: set[str] = set()
    result = []
    for name in names:
        base = identifier(name, prefix)
        candidate, index = base, 1
        while candidate.lower() in taken:
            suffix = f"_{index}"  # cut before suffixing so a duplicate stays within MAX_LENGTH
            candidate = base[: MAX_LENGTH - len(suffix)].rstrip("_") + suffix
            index += 1
        taken.add(candidate.lower())
        result.append(candidate)
    return result
