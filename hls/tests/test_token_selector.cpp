// Unit tests of hwprune/token_selector.h on a tiny hand-made selector (dim 8, 2 heads of 4): every
// weight 0, so each stage outputs its requantised bias and the score Linear's bias alone decides; the
// expected streams are written out with plain integers. (Bit-exactness against the Python golden model
// on real selectors is the C-sim test, tests/sim/test_token_hls.py.)
#include <hwprune/token_selector.h>

#include <vector>

#include "harness.h"

namespace {

template <int OUT, int IN, long long BIAS0, long long BIAS1>
struct zero_linear : hwprune::linear_shape<OUT, IN> {
    static const signed char w[OUT][IN];
    static const long long b[2];  // at least OUT entries (OUT is 1 or 2 here)
    static const int m[2];
    static const int s[2];
};
template <int OUT, int IN, long long B0, long long B1>
const signed char zero_linear<OUT, IN, B0, B1>::w[OUT][IN] = {};
template <int OUT, int IN, long long B0, long long B1>
const long long zero_linear<OUT, IN, B0, B1>::b[2] = {B0, B1};
template <int OUT, int IN, long long B0, long long B1>
const int zero_linear<OUT, IN, B0, B1>::m[2] = {16384, 16384};
template <int OUT, int IN, long long B0, long long B1>
const int zero_linear<OUT, IN, B0, B1>::s[2] = {15, 15};

// KEEP_BIAS > 0: keep logit +127, drop logit -128 (p = 1); < 0: the reverse (p = 0).
// HEAD_BIAS > 0: head weights 1.0; < 0: head weights 0 (the W = 0 fallback).
template <long long KEEP_BIAS, long long HEAD_BIAS>
struct tiny_cfg {
    static const int dim = 8, heads = 2, head_dim = 4, max_tokens = 6, frac_bits = 8;
    typedef zero_linear<2, 4, 0, 0> lin_local;
    typedef zero_linear<2, 4, 0, 0> lin_s1;
    typedef zero_linear<1, 2, 0, 0> lin_s2;
    typedef zero_linear<2, 1, KEEP_BIAS, -KEEP_BIAS> lin_s3;
    typedef zero_linear<1, 4, 0, 0> lin_h1;
    typedef zero_linear<1, 1, HEAD_BIAS, 0> lin_h2;
    static const int mean_recip[6];
    static ap_int<8> gelu_local(const ap_int<8>& q) { return hwprune::gelu8<40, 1773, 18927, 26>(q); }
    static ap_int<8> gelu_head(const ap_int<8>& q) { return hwprune::gelu8<40, 1773, 18927, 26>(q); }
    static ap_int<8> gelu_s1(const ap_int<8>& q) { return hwprune::gelu8<40, 1773, 18927, 26>(q); }
    static ap_int<8> gelu_s2(const ap_int<8>& q) { return hwprune::gelu8<40, 1773, 18927, 26>(q); }
    static ap_uint<9> softmax_keep(const ap_int<8>& k, const ap_int<8>& d) {
        return hwprune::softmax2_keep<11, 22, 246, 8, 31>(k, d);
    }
    static ap_uint<9> sigmoid(const ap_int<8>& q) { return hwprune::sigmoid_int<16384, 10, 8>(q); }
};
template <long long K, long long H>
const int tiny_cfg<K, H>::mean_recip[6] = {0, 65536, 32768, 21845, 16384, 13107};

typedef tiny_cfg<1000000, 1000000> keep_all;
typedef tiny_cfg<-1000000, 1000000> drop_all;
typedef tiny_cfg<-1000000, -1000000> drop_all_w0;

struct set_io {
    std::vector<long long> data;
    std::vector<int> last, package;
};

template <class CFG>
set_io run(const long long tokens[][8], int count, bool package) {
    hls::stream<hwprune::token_beat> in("in"), out("out");
    for (int t = 0; t < count; ++t) {
        for (int c = 0; c < 8; ++c) {
            hwprune::token_beat beat;
            beat.data = tokens[t][c];
            beat.last = t == count - 1 && c == 7;
            beat.package = package && t == count - 1;
            in.write(beat);
        }
    }
    hwprune::token_selector<CFG>(in, out);
    set_io io;
    while (!out.empty()) {
        const hwprune::token_beat beat = out.read();
        io.data.push_back(beat.data.to_int64());
        io.last.push_back(beat.last.to_int());
        io.package.push_back(beat.package.to_int());
    }
    HWCHECK_EQ(in.empty(), true);
    return io;
}

const long long kTokens[5][8] = {{1, 2, 3, 4, 5, 6, 7, 8},
                                 {-128, 127, 0, 5, -5, 9, 10, -11},
                                 {3, 3, 3, 3, -3, -3, -3, -3},
                                 {100, -100, 50, -50, 25, -25, 12, -12},
                                 {7, 0, -7, 1, -1, 2, -2, 127}};

// The plain mean of candidates 1..count-1 by one reciprocal, as the reference fuses with den = 0.
long long plain_mean(int count, int c) {
    long long sum = 0;
    for (int t = 1; t < count; ++t) sum += kTokens[t][c];
    const long long recip = (1LL << 32) / (count - 1);
    return (sum * recip + (1LL << 31)) >> 32;
}

}  // namespace

HWTEST(token_selector_keeps_everything_when_every_score_is_one) {
    const set_io io = run<keep_all>(kTokens, 5, false);
    HWCHECK_EQ(io.data.size(), 40u);
    for (int k = 0; k < 40; ++k) {
        HWCHECK_EQ(io.data[k], kTokens[k / 8][k % 8]);
        HWCHECK_EQ(io.last[k], k == 39);
        HWCHECK_EQ(io.package[k], 0);
    }
}

HWTEST(token_selector_always_fuses_the_previous_package_token) {
    // every candidate is kept but the flagged last token, which becomes the package on its own
    const set_io io = run<keep_all>(kTokens, 5, true);
    HWCHECK_EQ(io.data.size(), 40u);
    for (int k = 0; k < 40; ++k) {
        HWCHECK_EQ(io.data[k], kTokens[k / 8][k % 8]);  // a weighted average of one token is the token
        HWCHECK_EQ(io.package[k], k >= 32);
        HWCHECK_EQ(io.last[k], k == 39);
    }
}

HWTEST(token_selector_prunes_all_but_the_class_token_with_a_zero_denominator) {
    // p = 0 for every candidate: S = 0, so the package is the plain mean of the candidates
    const set_io io = run<drop_all>(kTokens, 5, false);
    HWCHECK_EQ(io.data.size(), 16u);
    for (int c = 0; c < 8; ++c) {
        HWCHECK_EQ(io.data[c], kTokens[0][c]);
        HWCHECK_EQ(io.data[8 + c], plain_mean(5, c));
        HWCHECK_EQ(io.package[c], 0);
        HWCHECK_EQ(io.package[8 + c], 1);
    }
    HWCHECK_EQ(io.last[7], 0);
    HWCHECK_EQ(io.last[15], 1);
    const set_io w0 = run<drop_all_w0>(kTokens, 5, true);  // W = 0 fallback: the same decisions
    HWCHECK_EQ(w0.data.size(), 16u);
    for (int k = 0; k < 16; ++k) HWCHECK_EQ(w0.data[k], io.data[k]);
}

HWTEST(token_selector_with_a_single_candidate) {
    const set_io kept = run<keep_all>(kTokens, 2, false);
    HWCHECK_EQ(kept.data.size(), 16u);
    const set_io fused = run<keep_all>(kTokens, 2, true);  // [class, package]: never more tokens than in
    HWCHECK_EQ(fused.data.size(), 16u);
    for (int k = 0; k < 16; ++k) {
        HWCHECK_EQ(fused.data[k], kTokens[k / 8][k % 8]);
        HWCHECK_EQ(fused.package[k], k >= 8);
    }
}
