// Unit tests of hwprune/requant.h: rounding (half up, arithmetic shift), saturation, ReLU.
#include <hwprune/requant.h>

#include "harness.h"

namespace {

long long rq_int8(long long acc, long long mult, int shift) {
    return hwprune::requantize<ap_int<8>, false>(ap_int<24>(acc), ap_int<16>(mult), ap_uint<6>(shift)).to_int64();
}

long long rq_uint8_relu(long long acc, long long mult, int shift) {
    return hwprune::requantize<ap_uint<8>, true>(ap_int<24>(acc), ap_int<16>(mult), ap_uint<6>(shift)).to_int64();
}

}  // namespace

HWTEST(requant_rounds_half_up) {
    HWCHECK_EQ(rq_int8(5, 1, 1), 3);    // 2.5 -> 3
    HWCHECK_EQ(rq_int8(-5, 1, 1), -2);  // -2.5 -> -2 (half up, not away from zero)
    HWCHECK_EQ(rq_int8(-3, 1, 1), -1);  // -1.5 -> -1
    HWCHECK_EQ(rq_int8(-7, 1, 2), -2);  // -1.75 -> -2
    HWCHECK_EQ(rq_int8(6, 3, 2), 5);    // 4.5 -> 5
    HWCHECK_EQ(rq_int8(0, 16384, 20), 0);
}

HWTEST(requant_saturates) {
    HWCHECK_EQ(rq_int8(1000, 1, 1), 127);
    HWCHECK_EQ(rq_int8(-1000, 1, 1), -128);
    HWCHECK_EQ(rq_int8(-257, 1, 1), -128);  // -128.5 -> -128: inside after rounding
    HWCHECK_EQ(rq_uint8_relu(-1000, 1, 1), 0);
    HWCHECK_EQ(rq_uint8_relu(511, 1, 1), 255);
    HWCHECK_EQ(rq_uint8_relu(513, 1, 1), 255);
    HWCHECK_EQ(rq_uint8_relu(-1, 1, 1), 0);  // -0.5 -> 0
}

HWTEST(requant_extremes_match_int64) {
    // Largest accumulators of a 24-bit acc with 16-bit multipliers and shifts up to 62.
    const long long accs[] = {(1LL << 23) - 1, -(1LL << 23), 1, -1, 123457, -98765};
    const long long mults[] = {1, 16384, 32767, 20000};
    for (int s = 1; s <= 62; ++s) {
        for (int a = 0; a < 6; ++a) {
            for (int m = 0; m < 4; ++m) {
                HWCHECK_EQ(rq_int8(accs[a], mults[m], s), hwtest::requant_ref(accs[a], mults[m], s, -128, 127));
                HWCHECK_EQ(rq_uint8_relu(accs[a], mults[m], s), hwtest::requant_ref(accs[a], mults[m], s, 0, 255));
            }
        }
    }
}

HWTEST(requant_random_sweep) {
    hwtest::lcg rng(7);
    for (int i = 0; i < 20000; ++i) {
        const long long acc = rng.next(-(1LL << 23), (1LL << 23) - 1);
        const long long mult = rng.next(1, 32767);
        const int shift = static_cast<int>(rng.next(1, 40));
        HWCHECK_EQ(rq_int8(acc, mult, shift), hwtest::requant_ref(acc, mult, shift, -128, 127));
        HWCHECK_EQ(rq_uint8_relu(acc, mult, shift), hwtest::requant_ref(acc, mult, shift, 0, 255));
    }
}

HWTEST(requant_wide_output) {
    // 16-bit signed output, 40-bit accumulator, 20-bit multiplier (62 bits of product).
    hwtest::lcg rng(11);
    for (int i = 0; i < 5000; ++i) {
        const long long acc = rng.next(-(1LL << 39), (1LL << 39) - 1);
        const long long mult = rng.next(1, (1LL << 19) - 1);
        const int shift = static_cast<int>(rng.next(1, 62));
        const long long got =
            hwprune::requantize<ap_int<16>, false>(ap_int<40>(acc), ap_int<20>(mult), ap_uint<6>(shift)).to_int64();
        HWCHECK_EQ(got, hwtest::requant_ref(acc, mult, shift, -32768, 32767));
    }
}
