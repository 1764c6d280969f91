// hwprune HLS kernel library: the stages of a network top that branches and merges.
//
//   fork2    one stream copied to two: a tensor with several readers (in a DATAFLOW region every
//            stream has exactly one reader and one writer; the writer chains fork2 for more readers)
//   add2     residual Add  y = sat((a*M_a + b*M_b + 2^(sh-1)) >> sh), clamped at 0 with a fused ReLU
//   concat2  channel Concat of channels-last streams: per pixel the chunk_a channels of a, then the
//            chunk_b channels of b, each requantised y = sat((x*M + 2^(sh-1)) >> sh) where the scales
//            differ (requant_a / requant_b), copied where they agree
//
// The arithmetic is hwprune.quant.merge's (the integer reference's _add / _concat) and goes through
// the one requantiser (requant.h) with M = 1 on the weighted sum, so it is exact by construction.
// The skip-path FIFO depths that keep a DATAFLOW top from deadlocking are set by the writer
// (hwprune/backends/hls/network.py), not here.
#ifndef HWPRUNE_MERGE_H
#define HWPRUNE_MERGE_H

#include "requant.h"
#include "stream.h"

namespace hwprune {

// CFG: typedef data_t; int count (elements per inference).
template <class CFG>
void fork2(hls::stream<typename CFG::data_t>& in, hls::stream<typename CFG::data_t>& out0,
           hls::stream<typename CFG::data_t>& out1) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    HWPRUNE_LOOP(copy)
    for (int i = 0; i < CFG::count; ++i) {
        HWPRUNE_PRAGMA(HLS PIPELINE II=1)
        const typename CFG::data_t v = in.read();
        out0.write(v);
        out1.write(v);
    }
}

// CFG: typedefs a_t, b_t, out_t; ints count, mult_a, mult_b, shift, acc_bits (holds |a*M_a| + |b*M_b|,
// checked by the writer), shift_bits; bool relu.
template <class CFG>
void add2(hls::stream<typename CFG::a_t>& a, hls::stream<typename CFG::b_t>& b,
          hls::stream<typename CFG::out_t>& out) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    typedef ap_int<CFG::acc_bits> acc_t;
    HWPRUNE_LOOP(elements)
    for (int i = 0; i < CFG::count; ++i) {
        HWPRUNE_PRAGMA(HLS PIPELINE II=1)
        const acc_t x = a.read();
        const acc_t y = b.read();
        const acc_t acc = x * acc_t(CFG::mult_a) + y * acc_t(CFG::mult_b);
        out.write(requantize<typename CFG::out_t, CFG::relu, CFG::acc_bits, 2, CFG::shift_bits>(
            acc, ap_int<2>(1), ap_uint<CFG::shift_bits>(CFG::shift)));
    }
}

// One Concat input element at the output's type: requantised with multiplier `mult`, or copied.
template <class CFG, bool REQUANT, typename in_t>
typename CFG::out_t concat_value(const in_t& x, int mult) {
    HWPRUNE_PRAGMA(HLS INLINE)
    typedef ap_int<CFG::acc_bits> acc_t;
    if (!REQUANT) return typename CFG::out_t(x);
    const acc_t acc = acc_t(x) * acc_t(mult);
    return requantize<typename CFG::out_t, false, CFG::acc_bits, 2, CFG::shift_bits>(
        acc, ap_int<2>(1), ap_uint<CFG::shift_bits>(CFG::shift));
}

// CFG: typedefs a_t, b_t, out_t; ints pixels, chunk_a, chunk_b, mult_a, mult_b, shift, acc_bits,
// shift_bits; bools requant_a, requant_b.
template <class CFG>
void concat2(hls::stream<typename CFG::a_t>& a, hls::stream<typename CFG::b_t>& b,
             hls::stream<typename CFG::out_t>& out) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    HWPRUNE_LOOP(pixels)
    for (int p = 0; p < CFG::pixels; ++p) {
        HWPRUNE_LOOP(channels)
        for (int c = 0; c < CFG::chunk_a + CFG::chunk_b; ++c) {
            HWPRUNE_PRAGMA(HLS PIPELINE II=1)
            if (c < CFG::chunk_a) {
                out.write(concat_value<CFG, CFG::requant_a>(a.read(), CFG::mult_a));
            } else {
                out.write(concat_value<CFG, CFG::requant_b>(b.read(), CFG::mult_b));
            }
        }
    }
}

}  // namespace hwprune

#endif  // HWPRUNE_MERGE_H
