// hwprune HLS kernel library: integer types, ranges and the pragma macro.
//
// Why a pragma macro: g++ -Wall warns on every unknown `#pragma HLS`, and the C-sim is built with
// -Wall -Werror. HWPRUNE_PRAGMA(HLS PIPELINE II=1) expands to _Pragma("HLS PIPELINE II=1") under
// synthesis (the form UG1399 documents for pragmas inside macros) and to nothing in C-sim, where
// pragmas have no effect anyway. Define HWPRUNE_EMIT_PRAGMAS to see them with `g++ -E`.
#ifndef HWPRUNE_TYPES_H
#define HWPRUNE_TYPES_H

// The ap_types headers (Xilinx's, as shipped by hls4ml) read a member before initialising it in
// ap_private's constructor; g++'s flow analysis reports that at -O1 and above even through -isystem.
// The suppression is scoped to those headers only, so hwprune's own code keeps every warning.
#if defined(__GNUC__) && !defined(__clang__) && !defined(__SYNTHESIS__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <ap_int.h>
#pragma GCC diagnostic pop
#else
#include <ap_int.h>
#endif

#if defined(__SYNTHESIS__) || defined(HWPRUNE_EMIT_PRAGMAS)
#define HWPRUNE_PRAGMA_STR(x) _Pragma(#x)
#define HWPRUNE_PRAGMA(x) HWPRUNE_PRAGMA_STR(x)
#else
#define HWPRUNE_PRAGMA(x)
#endif

// Loop labels name loops in HLS reports; g++ -Wall flags labels nobody jumps to, so they exist
// only under synthesis (or with HWPRUNE_EMIT_PRAGMAS): HWPRUNE_LOOP(read_input) for (...) {...}
#if defined(__SYNTHESIS__) || defined(HWPRUNE_EMIT_PRAGMAS)
#define HWPRUNE_LOOP(name) name:
#else
#define HWPRUNE_LOOP(name)
#endif

// Element type of a generated constant array (weights, offsets, bias, requantiser integers):
// the exact ap_int type under synthesis (it sets the ROM width); in C-sim a plain C integer type
// holding the same values (the writer checks every value fits the ap_int type), because g++ spends
// seconds on the dynamic initialisation of large ap_int arrays. Define HWPRUNE_AP_ROMS to C-simulate
// with the ap_int arrays themselves.
#if defined(__SYNTHESIS__) || defined(HWPRUNE_AP_ROMS)
#define HWPRUNE_ROM(ap_type, host_type) ap_type
#else
#define HWPRUNE_ROM(ap_type, host_type) host_type
#endif

// A constant only pragmas read (so unused in C-sim builds, where pragmas vanish).
#define HWPRUNE_UNUSED(x) ((void)(x))

namespace hwprune {

// IntType(bits, signed) of the IR -> ap_int<bits> / ap_uint<bits>.
template <int BITS, bool SIGNED>
struct int_type {
    typedef ap_int<BITS> type;
};
template <int BITS>
struct int_type<BITS, false> {
    typedef ap_uint<BITS> type;
};

// Saturation bounds of an IR integer type, as 64-bit constants (DESIGN.md section 3).
template <int BITS, bool SIGNED>
struct int_range {
    static_assert(BITS >= 1 && BITS <= 63, "hwprune integer types are 1..63 bits in the kernels");
    static long long min() { return SIGNED ? -(1LL << (BITS - 1)) : 0LL; }
    static long long max() { return SIGNED ? (1LL << (BITS - 1)) - 1 : (1LL << BITS) - 1; }
};

// Bounds of an ap_int / ap_uint type (the kernel's in_t / out_t).
template <typename T>
struct range_of;
template <int W>
struct range_of<ap_int<W> > : int_range<W, true> {};
template <int W>
struct range_of<ap_uint<W> > : int_range<W, false> {};

}  // namespace hwprune

#endif  // HWPRUNE_TYPES_H
