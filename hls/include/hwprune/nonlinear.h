// hwprune HLS kernel library: the token selector's integer nonlinearities (HeatViT / I-BERT style).
//
// Each function is the integer form of hwprune.tokens.fixed_point, bit for bit (that module is part
// of the golden model, DESIGN.md section 3); the constants are compile-time template arguments
// computed by hwprune from the input scales, so synthesis folds them into the datapath:
//
//   gelu8     t = q_b - min(|q|, q_b);  y = q*(2q_c - t^2) (q > 0) or q*t^2;  requantise to int8
//   softmax2  keep probability of a (keep, drop) logit pair: exp by range reduction
//             z = floor(u / q_ln2), e = ((z*q_ln2 - u + q_b)^2 + q_c) >> z for u = |keep - drop|,
//             e0 = q_b^2 + q_c for the larger one; r = floor(2^R / (e0 + e)); p = (e_keep*r + 2^(R-F-1)) >> (R-F)
//   sigmoid   xf = (|q|*M + 2^(sh-1)) >> sh; 8xf + 16*2^F | 4xf + 20*2^F | xf + 27*2^F | 32*2^F, (y32 + 16) >> 5;
//             2^F - y for q < 0
//   mean8     (sum * R[n] + 2^15) >> 16 with R[n] = round(2^16 / n): a mean without a divider
//
// Probabilities and head weights have F fraction bits: values 0..2^F, 2^F being 1.0.
#ifndef HWPRUNE_NONLINEAR_H
#define HWPRUNE_NONLINEAR_H

#include "requant.h"

namespace hwprune {

// Width of every intermediate below: wide enough for the GELU product (< 2^39, checked by the writer)
// times a 16-bit requantiser multiplier, and for the exp/softmax products.
typedef ap_int<48> wide_t;

// GeluInt: the raw integer GELU (real value y * A*S_u^2*S/2).
template <long long Q_B, long long Q_C>
wide_t gelu_int(const ap_int<8>& q) {
    HWPRUNE_PRAGMA(HLS INLINE)
    const wide_t qq = q;
    const wide_t mag = qq < 0 ? wide_t(-qq) : qq;
    const wide_t t = wide_t(Q_B) - (mag < wide_t(Q_B) ? mag : wide_t(Q_B));
    const wide_t t2 = t * t;
    return qq > 0 ? wide_t(qq * (wide_t(2 * Q_C) - t2)) : wide_t(qq * t2);
}

// GELU8: gelu_int requantised to int8 with (M, sh).
template <long long Q_B, long long Q_C, long long MULT, int SHIFT>
ap_int<8> gelu8(const ap_int<8>& q) {
    HWPRUNE_PRAGMA(HLS INLINE)
    static_assert(MULT > 0 && MULT < (1LL << 15), "requantiser multipliers are 16-bit signed, positive");
    static_assert(SHIFT >= 1 && SHIFT <= 62, "requantiser shifts are 1..62");
    return requantize<ap_int<8>, false>(ap_int<40>(gelu_int<Q_B, Q_C>(q)), ap_int<16>(MULT), ap_uint<6>(SHIFT));
}

// ExpInt of -u (u >= 0): ((z*q_ln2 - u + q_b)^2 + q_c) >> z with z = floor(u / q_ln2); 0 once z > 62.
template <long long Q_LN2, long long Q_B, long long Q_C>
wide_t exp_neg(const ap_uint<9>& u) {
    HWPRUNE_PRAGMA(HLS INLINE)
    const int uu = u.to_int();
    const int z = uu / static_cast<int>(Q_LN2);
    const wide_t base = wide_t(z) * wide_t(Q_LN2) - wide_t(uu) + wide_t(Q_B);
    const wide_t value = base * base + wide_t(Q_C);
    return z > 62 ? wide_t(0) : wide_t(value >> z);
}

// SoftmaxInt over two logits, the first one's probability: F fraction bits, R reciprocal bits.
template <long long Q_LN2, long long Q_B, long long Q_C, int F, int R>
ap_uint<F + 1> softmax2_keep(const ap_int<8>& keep, const ap_int<8>& drop) {
    HWPRUNE_PRAGMA(HLS INLINE)
    static_assert(F >= 1 && F < R && R <= 40, "need 1 <= F < R <= 40");
    const int diff = keep.to_int() - drop.to_int();
    const ap_uint<9> u = diff < 0 ? -diff : diff;
    const wide_t e0 = wide_t(Q_B) * wide_t(Q_B) + wide_t(Q_C);
    const wide_t e_small = exp_neg<Q_LN2, Q_B, Q_C>(u);
    const wide_t e_keep = diff >= 0 ? e0 : e_small;
    const wide_t recip = (wide_t(1) << R) / (e0 + e_small);
    const ap_int<96> scaled = ap_int<96>(e_keep) * ap_int<96>(recip) + ap_int<96>(wide_t(1) << (R - F - 1));
    return ap_uint<F + 1>(ap_int<96>(scaled >> (R - F)));
}

// SigmoidInt: F fraction bits (F >= 3), (M, sh) the requantiser of in_scale * 2^F.
template <long long MULT, int SHIFT, int F>
ap_uint<F + 1> sigmoid_int(const ap_int<8>& q) {
    HWPRUNE_PRAGMA(HLS INLINE)
    static_assert(F >= 3, "2.375 needs 3 fraction bits");
    const wide_t one = wide_t(1) << F;
    const wide_t qq = q;
    const wide_t mag = qq < 0 ? wide_t(-qq) : qq;
    const wide_t xf = (mag * wide_t(MULT) + (wide_t(1) << (SHIFT - 1))) >> SHIFT;
    wide_t y32;
    if (xf < one) {
        y32 = 8 * xf + 16 * one;
    } else if (xf < 19 * (one >> 3)) {
        y32 = 4 * xf + 20 * one;
    } else if (xf < 5 * one) {
        y32 = xf + 27 * one;
    } else {
        y32 = 32 * one;
    }
    const wide_t y = (y32 + 16) >> 5;
    return ap_uint<F + 1>(qq < 0 ? wide_t(one - y) : y);
}

// mean8: (sum * recip + 2^15) >> 16, recip = round(2^16 / n) from the caller's table.
inline ap_int<8> mean8(const wide_t& sum, const ap_uint<17>& recip) {
    HWPRUNE_PRAGMA(HLS INLINE)
    return ap_int<8>(wide_t((sum * wide_t(recip) + wide_t(1 << 15)) >> 16));
}

}  // namespace hwprune

#endif  // HWPRUNE_NONLINEAR_H
