// Unit tests of hwprune/nonlinear.h: the integer GELU, exp/softmax, sigmoid and mean of the token
// selector, against an independent plain-int64 formulation of hwprune.tokens.fixed_point over every
// int8 input (and every logit pair), plus anchor values printed by the Python reference itself.
#include <hwprune/nonlinear.h>

#include "harness.h"

namespace {

// Plain-int64 forms (g++ shifts signed values arithmetically, like torch.bitwise_right_shift).
long long gelu_ref(long long q, long long q_b, long long q_c) {
    const long long mag = q < 0 ? -q : q;
    const long long t = q_b - (mag < q_b ? mag : q_b);
    return q > 0 ? q * (2 * q_c - t * t) : q * t * t;
}

long long exp_ref(long long x, long long q_ln2, long long q_b, long long q_c) {  // x <= 0
    const long long z = (-x) / q_ln2;
    const long long p = x + z * q_ln2;
    const long long v = (p + q_b) * (p + q_b) + q_c;
    return z > 62 ? 0 : v >> z;
}

long long softmax_keep_ref(long long a, long long b, long long q_ln2, long long q_b, long long q_c) {
    const long long m = a > b ? a : b;
    const long long ea = exp_ref(a - m, q_ln2, q_b, q_c), eb = exp_ref(b - m, q_ln2, q_b, q_c);
    const long long r = (1LL << 31) / (ea + eb);
    return (ea * r + (1LL << 22)) >> 23;
}

long long sigmoid_ref(long long q, long long mult, int shift) {
    const long long one = 256;
    const long long mag = q < 0 ? -q : q;
    const long long xf = (mag * mult + (1LL << (shift - 1))) >> shift;
    long long y32 = 32 * one;
    if (xf < one) {
        y32 = 8 * xf + 16 * one;
    } else if (xf < 19 * (one >> 3)) {
        y32 = 4 * xf + 20 * one;
    } else if (xf < 5 * one) {
        y32 = xf + 27 * one;
    }
    const long long y = (y32 + 16) >> 5;
    return q < 0 ? one - y : y;
}

}  // namespace

HWTEST(gelu_matches_int64_over_all_int8) {
    for (int q = -128; q <= 127; ++q) {
        HWCHECK_EQ((hwprune::gelu_int<40, 1773>(ap_int<8>(q))).to_int64(), gelu_ref(q, 40, 1773));
        HWCHECK_EQ((hwprune::gelu_int<691, 528690>(ap_int<8>(q))).to_int64(), gelu_ref(q, 691, 528690));
        HWCHECK_EQ((hwprune::gelu8<40, 1773, 18927, 26>(ap_int<8>(q))).to_int64(),
                   hwtest::requant_ref(gelu_ref(q, 40, 1773), 18927, 26, -128, 127));
    }
}

HWTEST(gelu_anchor_values_from_the_python_reference) {
    // hwprune.tokens.reference.IntGelu.from_scales(1/16, 1/16): q_b 40, q_c 1773, M 18927, sh 26
    const int qs[] = {-128, -40, -17, -1, 0, 1, 5, 23, 64, 127};
    const long long raw[] = {0, 0, -8993, -1521, 0, 2025, 11605, 74911, 226944, 450342};
    const long long out[] = {0, 0, -3, 0, 0, 1, 3, 21, 64, 127};
    for (int i = 0; i < 10; ++i) {
        HWCHECK_EQ((hwprune::gelu_int<40, 1773>(ap_int<8>(qs[i]))).to_int64(), raw[i]);
        HWCHECK_EQ((hwprune::gelu8<40, 1773, 18927, 26>(ap_int<8>(qs[i]))).to_int64(), out[i]);
    }
}

HWTEST(softmax_keep_matches_int64_over_all_pairs) {
    for (int a = -128; a <= 127; ++a) {
        for (int b = -128; b <= 127; ++b) {
            HWCHECK_EQ((hwprune::softmax2_keep<11, 22, 246, 8, 31>(ap_int<8>(a), ap_int<8>(b))).to_int64(),
                       softmax_keep_ref(a, b, 11, 22, 246));
        }
        // a scale so fine that z is never above 1 (q_ln2 = 215)
        HWCHECK_EQ((hwprune::softmax2_keep<215, 420, 92666, 8, 31>(ap_int<8>(a), ap_int<8>(-a / 2))).to_int64(),
                   softmax_keep_ref(a, -a / 2, 215, 420, 92666));
    }
}

HWTEST(softmax_anchor_values_from_the_python_reference) {
    // hwprune.tokens.fixed_point.SoftmaxInt.from_scale(1/16): q_ln2 11, q_b 22, q_c 246
    const int pairs[][2] = {{0, 0}, {10, 0}, {0, 10}, {127, -128}, {-128, 127}, {5, -3}, {-60, -20}};
    const long long want[] = {128, 167, 89, 256, 0, 159, 19};
    for (int i = 0; i < 7; ++i) {
        HWCHECK_EQ((hwprune::softmax2_keep<11, 22, 246, 8, 31>(ap_int<8>(pairs[i][0]), ap_int<8>(pairs[i][1]))).to_int64(),
                   want[i]);
    }
}

HWTEST(sigmoid_matches_int64_and_anchors) {
    for (int q = -128; q <= 127; ++q) {
        HWCHECK_EQ((hwprune::sigmoid_int<16384, 10, 8>(ap_int<8>(q))).to_int64(), sigmoid_ref(q, 16384, 10));
        if (q > -128) {  // odd symmetry about (0, 1/2)
            HWCHECK_EQ((hwprune::sigmoid_int<16384, 10, 8>(ap_int<8>(q))).to_int64() +
                           (hwprune::sigmoid_int<16384, 10, 8>(ap_int<8>(-q))).to_int64(),
                       256);
        }
    }
    // hwprune.tokens.fixed_point.SigmoidInt.from_scale(1/16)
    const int qs[] = {-128, -40, -17, -1, 0, 1, 5, 23, 64, 127};
    const long long want[] = {0, 20, 62, 124, 128, 132, 148, 206, 248, 256};
    for (int i = 0; i < 10; ++i) HWCHECK_EQ((hwprune::sigmoid_int<16384, 10, 8>(ap_int<8>(qs[i]))).to_int64(), want[i]);
}

HWTEST(mean8_rounds_like_the_reference) {
    hwtest::lcg rng(5);
    for (int n = 1; n <= 32; ++n) {
        const long long recip = ((1LL << 17) + n) / (2 * n);  // round(2^16 / n), halves up
        for (int k = 0; k < 200; ++k) {
            long long sum = 0;
            for (int i = 0; i < n; ++i) sum += rng.next(-128, 127);
            HWCHECK_EQ(hwprune::mean8(hwprune::wide_t(sum), ap_uint<17>(recip)).to_int64(),
                       (sum * recip + (1LL << 15)) >> 16);
        }
    }
}
