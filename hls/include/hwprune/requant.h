// hwprune HLS kernel library: the requantiser of DESIGN.md section 3.
//
//   y = sat_out((acc * M + 2^(sh-1)) >> sh)      arithmetic shift, round half up; ReLU clamps at 0
//
// It is the one place where an accumulator becomes an output activation, so the RTL, this C++ and
// the integer reference (hwprune.quant.reference.requantize) must agree bit for bit. The product is
// formed exactly (ACC_BITS + MULT_BITS bits) and widened to ap_int<64>, the width the reference
// uses; the static_assert keeps acc*M + 2^(sh-1) far from 64-bit wrap-around so no rounding or
// overflow difference between int64 and ap_int<64> can exist.
#ifndef HWPRUNE_REQUANT_H
#define HWPRUNE_REQUANT_H

#include "types.h"

namespace hwprune {

// Requantise one accumulator. Preconditions (checked by the writer): M > 0, 1 <= sh <= 62.
template <typename out_t, bool RELU, int ACC_BITS, int MULT_BITS, int SHIFT_BITS>
out_t requantize(const ap_int<ACC_BITS>& acc, const ap_int<MULT_BITS>& mult, const ap_uint<SHIFT_BITS>& shift) {
    HWPRUNE_PRAGMA(HLS INLINE)
    static_assert(ACC_BITS + MULT_BITS <= 62, "acc*M must stay clear of 64-bit wrap-around");
    static_assert(SHIFT_BITS <= 6, "shift is at most 62");
    const ap_int<ACC_BITS + MULT_BITS> exact = acc * mult;
    const ap_int<64> product = exact;
    const int sh = shift.to_int();
    const ap_int<64> half = sh > 0 ? ap_int<64>(ap_int<64>(1) << (sh - 1)) : ap_int<64>(0);
    const ap_int<64> rounded = (product + half) >> sh;
    const long long lo = RELU ? 0LL : range_of<out_t>::min();
    const long long hi = range_of<out_t>::max();
    out_t y;
    if (rounded < lo) {
        y = lo;
    } else if (rounded > hi) {
        y = hi;
    } else {
        y = rounded;
    }
    return y;
}

}  // namespace hwprune

#endif  // HWPRUNE_REQUANT_H
