// hwprune HLS kernel library: the 8-bit HeatViT token selector with token compaction (issue 6).
//
// The integer golden model is hwprune.tokens.reference.IntSelector; this is the same computation:
//   tokens q[T][D] int8 (class token first; the last one a previous package token when flagged),
//   per head h (D = H*d) and candidate i (every token but the class token):
//     local = GELU8(Linear_local(q_ih)); glob_h = mean8_i(local); h1 = GELU8(Linear_s1([local, glob]));
//     h2 = GELU8(Linear_s2(h1)); p_hi = softmax2_keep(Linear_s3(h2))
//   w_h = sigmoid(Linear_h2(GELU8(Linear_h1(mean8_i(q_ih))))); W = sum w_h (W = 0: every w_h := 1)
//   S_i = sum_h w_h*p_hi; keep_i <=> S_i >= 2^(F-1)*W (never the previous package token)
//   package_c = (num_c*r + 2^31) >> 32, num_c = sum_{fused} S_i*q_ic, r = floor(2^32 / sum_{fused} S_i)
//             (all S_i := 1 when that sum is 0), clamped to int8
//   out: class token, kept candidates in order, the package token (if anything was fused) last.
// Streams carry token_beat: one int8 element, `last` on the final beat of a set, `package` on the beats
// of a package token; D beats per token, token-major (the RTL selector's beat format).
//
// Config struct CFG (generated per selector by hwprune.backends.hls.token_writer):
//   ints      dim, heads, head_dim, max_tokens, frac_bits, recip_bits
//   types     lin_<name> for name in local, s1, s2, s3, h1, h2: a linear_cfg<OUT, IN> with arrays
//             w[OUT][IN], b[OUT], m[OUT], s[OUT] (static members)
//   funcs     gelu_local / gelu_head / gelu_s1 / gelu_s2 (int8 -> int8), softmax_keep(keep, drop),
//             sigmoid(q) — instances of hwprune/nonlinear.h with the selector's constants
//   array     mean_recip[max_tokens]: round(2^16 / n) at index n
#ifndef HWPRUNE_TOKEN_SELECTOR_H
#define HWPRUNE_TOKEN_SELECTOR_H

#include "nonlinear.h"
#include "stream.h"

namespace hwprune {

struct token_beat {
    ap_int<8> data;
    ap_uint<1> last;
    ap_uint<1> package;
};

// One Linear of the selector: int8 weights [OUT][IN], bias in the accumulator domain, requantiser per row.
template <int OUT, int IN>
struct linear_shape {
    static const int out = OUT;
    static const int in = IN;
};

// y = requant(W x + b) to int8; the accumulator is exact in 40 bits (checked by the writer).
template <class L>
void linear_i8(const ap_int<8> x[L::in], ap_int<8> y[L::out]) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    HWPRUNE_LOOP(rows)
    for (int o = 0; o < L::out; ++o) {
        ap_int<40> acc = L::b[o];
        HWPRUNE_LOOP(macs)
        for (int i = 0; i < L::in; ++i) {
            HWPRUNE_PRAGMA(HLS PIPELINE II=1)
            acc += ap_int<8>(L::w[o][i]) * x[i];
        }
        y[o] = requantize<ap_int<8>, false>(acc, ap_int<16>(L::m[o]), ap_uint<6>(L::s[o]));
    }
}

// Reads one token set; returns T (0 if none), stores tokens and the package flag of the last token.
template <class CFG>
int read_tokens(hls::stream<token_beat>& in, ap_int<8> tok[CFG::max_tokens][CFG::dim], bool& package) {
    int tokens = 0;
    HWPRUNE_LOOP(read_set)
    for (int k = 0; k < CFG::max_tokens * CFG::dim; ++k) {
        HWPRUNE_PRAGMA(HLS PIPELINE II=1)
        const token_beat beat = in.read();
        tok[k / CFG::dim][k % CFG::dim] = beat.data;
        if (beat.last) {
            tokens = k / CFG::dim + 1;
            package = beat.package == 1;
            break;
        }
    }
    return tokens;
}

// Keep scores S_i of the n candidates (tok[1 .. n]) and the head-weight sum W (after the fallback).
template <class CFG>
ap_uint<32> candidate_scores(const ap_int<8> tok[CFG::max_tokens][CFG::dim], int n, ap_uint<32> score[]) {
    const int H = CFG::heads, d = CFG::head_dim, half = d / 2, quarter = d / 4;
    const ap_uint<17> recip = CFG::mean_recip[n];
    ap_int<8> local[CFG::max_tokens][CFG::heads][CFG::head_dim / 2];
    ap_uint<CFG::frac_bits + 1> prob[CFG::max_tokens][CFG::heads];
    ap_uint<CFG::frac_bits + 1> w[CFG::heads];
    ap_uint<32> w_sum = 0;
    HWPRUNE_LOOP(heads)
    for (int h = 0; h < H; ++h) {
        wide_t sums[CFG::head_dim];
        wide_t gsum[CFG::head_dim / 2];
        for (int k = 0; k < d; ++k) sums[k] = 0;
        for (int j = 0; j < half; ++j) gsum[j] = 0;
        HWPRUNE_LOOP(local_branch)
        for (int i = 0; i < n; ++i) {
            ap_int<8> x[CFG::head_dim], pre[CFG::head_dim / 2];
            for (int k = 0; k < d; ++k) {
                x[k] = tok[i + 1][h * d + k];
                sums[k] += x[k];
            }
            linear_i8<typename CFG::lin_local>(x, pre);
            for (int j = 0; j < half; ++j) {
                local[i][h][j] = CFG::gelu_local(pre[j]);
                gsum[j] += local[i][h][j];
            }
        }
        ap_int<8> feats[CFG::head_dim], hidden1[CFG::head_dim / 2], pre1[CFG::head_dim / 2];
        ap_int<8> hidden2[CFG::head_dim / 4], pre2[CFG::head_dim / 4], logits[2];
        for (int j = 0; j < half; ++j) feats[half + j] = mean8(gsum[j], recip);
        HWPRUNE_LOOP(score_mlp)
        for (int i = 0; i < n; ++i) {
            for (int j = 0; j < half; ++j) feats[j] = local[i][h][j];
            linear_i8<typename CFG::lin_s1>(feats, pre1);
            for (int j = 0; j < half; ++j) hidden1[j] = CFG::gelu_s1(pre1[j]);
            linear_i8<typename CFG::lin_s2>(hidden1, pre2);
            for (int j = 0; j < quarter; ++j) hidden2[j] = CFG::gelu_s2(pre2[j]);
            linear_i8<typename CFG::lin_s3>(hidden2, logits);
            prob[i][h] = CFG::softmax_keep(logits[0], logits[1]);
        }
        ap_int<8> head_in[CFG::head_dim], head_pre[CFG::head_dim / 4], head_hidden[CFG::head_dim / 4], head_logit[1];
        for (int k = 0; k < d; ++k) head_in[k] = mean8(sums[k], recip);
        linear_i8<typename CFG::lin_h1>(head_in, head_pre);
        for (int j = 0; j < quarter; ++j) head_hidden[j] = CFG::gelu_head(head_pre[j]);
        linear_i8<typename CFG::lin_h2>(head_hidden, head_logit);
        w[h] = CFG::sigmoid(head_logit[0]);
        w_sum += w[h];
    }
    if (w_sum == 0) {
        for (int h = 0; h < H; ++h) w[h] = 1;
        w_sum = H;
    }
    HWPRUNE_LOOP(scores)
    for (int i = 0; i < n; ++i) {
        ap_uint<32> s = 0;
        for (int h = 0; h < H; ++h) s += w[h] * prob[i][h];
        score[i] = s;
    }
    return w_sum;
}

// The whole selector on one token set: read, score, keep, compact, fuse, write. Sets with T < 2
// (no candidate) are passed through unchanged.
template <class CFG>
void token_selector(hls::stream<token_beat>& in, hls::stream<token_beat>& out) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    const int D = CFG::dim;
    ap_int<8> tok[CFG::max_tokens][CFG::dim];
    bool package_in = false;  // read on the last beat: the last token is a previous package token
    const int tokens = read_tokens<CFG>(in, tok, package_in);
    const int n = tokens - 1;
    ap_uint<32> score[CFG::max_tokens];
    bool keep[CFG::max_tokens];
    const ap_uint<32> w_sum = n > 0 ? candidate_scores<CFG>(tok, n, score) : ap_uint<32>(1);
    const ap_uint<40> threshold = ap_uint<40>(w_sum) << (CFG::frac_bits - 1);
    ap_uint<40> den = 0;
    int fused = 0;
    for (int i = 0; i < n; ++i) {
        keep[i] = score[i] >= threshold && !(package_in && i == n - 1);
        if (!keep[i]) {
            den += score[i];
            ++fused;
        }
    }
    HWPRUNE_LOOP(write_kept)
    for (int t = 0; t < tokens; ++t) {
        if (t > 0 && !keep[t - 1]) continue;
        for (int c = 0; c < D; ++c) {
            HWPRUNE_PRAGMA(HLS PIPELINE II=1)
            token_beat beat;
            beat.data = tok[t][c];
            beat.last = fused == 0 && t == tokens - 1 && c == D - 1;
            beat.package = 0;
            out.write(beat);
        }
    }
    if (fused == 0) return;
    const bool plain = den == 0;
    const ap_uint<34> recip = (ap_uint<34>(1) << 32) / (plain ? ap_uint<40>(fused) : den);
    HWPRUNE_LOOP(write_package)
    for (int c = 0; c < D; ++c) {
        ap_int<48> num = 0;
        for (int i = 0; i < n; ++i) {
            if (!keep[i]) num += ap_int<48>(plain ? ap_uint<32>(1) : score[i]) * tok[i + 1][c];
        }
        const ap_int<96> scaled = (ap_int<96>(num) * ap_int<96>(recip) + (ap_int<96>(1) << 31)) >> 32;
        token_beat beat;
        beat.data = scaled > 127 ? ap_int<8>(127) : (scaled < -128 ? ap_int<8>(-128) : ap_int<8>(scaled));
        beat.last = c == D - 1;
        beat.package = 1;
        out.write(beat);
    }
}

}  // namespace hwprune

#endif  // HWPRUNE_TOKEN_SELECTOR_H
