// hwprune HLS kernel library: average pooling on channels-last streams.
//
//   avgpool2d       window sum over kernel_h x kernel_w, zero padding counted (count_include_pad; the
//                   integer reference refuses padding without it and ceil_mode), then the requantiser
//                   y = sat((sum*M + 2^(sh-1)) >> sh) with M / 2^sh ~ 1 / (kernel_h*kernel_w)
//   global_avgpool  the sum over all H*W pixels of each channel, requantised the same way
//
// This is the integer reference's _avgpool / _global_avg bit for bit: the sums are exact (sum_bits
// holds the largest, checked by the writer) and the one requantiser (requant.h) rounds and saturates.
#ifndef HWPRUNE_AVERAGE_H
#define HWPRUNE_AVERAGE_H

#include "frame.h"
#include "requant.h"
#include "stream.h"

namespace hwprune {

// CFG: typedefs in_t, out_t; ints channels, in_height, in_width, kernel_h, kernel_w, stride_h, stride_w,
// pad_top, pad_left, out_height, out_width, sum_bits, mult, mult_bits, shift, shift_bits.
template <class CFG>
void avgpool2d(hls::stream<typename CFG::in_t>& in, hls::stream<typename CFG::out_t>& out) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    typedef ap_int<CFG::sum_bits> sum_t;
    typename CFG::in_t fmap[CFG::channels][CFG::in_height][CFG::in_width];
    read_feature_map<typename CFG::in_t, CFG::channels, CFG::in_height, CFG::in_width>(in, fmap);
    HWPRUNE_LOOP(pool)
    for (int oy = 0; oy < CFG::out_height; ++oy) {
        for (int ox = 0; ox < CFG::out_width; ++ox) {
            for (int c = 0; c < CFG::channels; ++c) {
                HWPRUNE_PRAGMA(HLS PIPELINE II=1)
                sum_t sum = 0;
                HWPRUNE_LOOP(window)
                for (int ky = 0; ky < CFG::kernel_h; ++ky) {
                    for (int kx = 0; kx < CFG::kernel_w; ++kx) {
                        HWPRUNE_PRAGMA(HLS UNROLL)
                        const int iy = oy * CFG::stride_h - CFG::pad_top + ky;
                        const int ix = ox * CFG::stride_w - CFG::pad_left + kx;
                        if (iy >= 0 && iy < CFG::in_height && ix >= 0 && ix < CFG::in_width) {
                            sum += fmap[c][iy][ix];  // outside the image: a zero of the padding
                        }
                    }
                }
                out.write(requantize<typename CFG::out_t, false, CFG::sum_bits, CFG::mult_bits, CFG::shift_bits>(
                    sum, ap_int<CFG::mult_bits>(CFG::mult), ap_uint<CFG::shift_bits>(CFG::shift)));
            }
        }
    }
}

// CFG: typedefs in_t, out_t; ints channels, pixels (H*W), sum_bits, mult, mult_bits, shift, shift_bits.
template <class CFG>
void global_avgpool(hls::stream<typename CFG::in_t>& in, hls::stream<typename CFG::out_t>& out) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    typedef ap_int<CFG::sum_bits> sum_t;
    sum_t sums[CFG::channels];
    HWPRUNE_LOOP(clear)
    for (int c = 0; c < CFG::channels; ++c) {
        HWPRUNE_PRAGMA(HLS PIPELINE II=1)
        sums[c] = 0;
    }
    HWPRUNE_LOOP(accumulate)
    for (int p = 0; p < CFG::pixels; ++p) {
        for (int c = 0; c < CFG::channels; ++c) {
            HWPRUNE_PRAGMA(HLS PIPELINE II=1)
            sums[c] += in.read();
        }
    }
    HWPRUNE_LOOP(write_output)
    for (int c = 0; c < CFG::channels; ++c) {
        HWPRUNE_PRAGMA(HLS PIPELINE II=1)
        out.write(requantize<typename CFG::out_t, false, CFG::sum_bits, CFG::mult_bits, CFG::shift_bits>(
            sums[c], ap_int<CFG::mult_bits>(CFG::mult), ap_uint<CFG::shift_bits>(CFG::shift)));
    }
}

}  // namespace hwprune

#endif  // HWPRUNE_AVERAGE_H
