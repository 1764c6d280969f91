// hwprune HLS kernel library: the layers between MAC kernels: max pooling, ReLU, flatten.
//
// All act on channels-last streams (beat order (h, w, c), see conv.h), one element per beat, so they
// chain with the MAC kernels in a DATAFLOW region. They only compare or copy, so they are exact by
// construction; the max pool pads with the type's minimum, as the integer reference does.
#ifndef HWPRUNE_POOL_H
#define HWPRUNE_POOL_H

#include "frame.h"
#include "stream.h"
#include "types.h"

namespace hwprune {

// CFG: typedef data_t; ints channels, in_height, in_width, kernel_h, kernel_w, stride_h, stride_w,
// pad_top, pad_left, out_height, out_width (ceil_mode is already folded into out_height/out_width).
template <class CFG>
void maxpool2d(hls::stream<typename CFG::data_t>& in, hls::stream<typename CFG::data_t>& out) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    typedef typename CFG::data_t data_t;
    data_t fmap[CFG::channels][CFG::in_height][CFG::in_width];
    read_feature_map<data_t, CFG::channels, CFG::in_height, CFG::in_width>(in, fmap);
    HWPRUNE_LOOP(pool)
    for (int oy = 0; oy < CFG::out_height; ++oy) {
        for (int ox = 0; ox < CFG::out_width; ++ox) {
            for (int c = 0; c < CFG::channels; ++c) {
                HWPRUNE_PRAGMA(HLS PIPELINE II=1)
                data_t best = range_of<data_t>::min();
                HWPRUNE_LOOP(window)
                for (int ky = 0; ky < CFG::kernel_h; ++ky) {
                    for (int kx = 0; kx < CFG::kernel_w; ++kx) {
                        HWPRUNE_PRAGMA(HLS UNROLL)
                        const int iy = oy * CFG::stride_h - CFG::pad_top + ky;
                        const int ix = ox * CFG::stride_w - CFG::pad_left + kx;
                        if (iy >= 0 && iy < CFG::in_height && ix >= 0 && ix < CFG::in_width &&
                            fmap[c][iy][ix] > best) {
                            best = fmap[c][iy][ix];
                        }
                    }
                }
                out.write(best);
            }
        }
    }
}

// Element-wise ReLU of N values (a standalone Relu node; fused ReLU lives in the requantiser).
template <typename in_t, typename out_t, int N>
void relu(hls::stream<in_t>& in, hls::stream<out_t>& out) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    HWPRUNE_LOOP(elements)
    for (int i = 0; i < N; ++i) {
        HWPRUNE_PRAGMA(HLS PIPELINE II=1)
        const in_t v = in.read();
        out.write(v < 0 ? out_t(0) : out_t(v));
    }
}

// Flatten of a C x H x W map: channels-last beats in, the (c, h, w) order of ONNX Flatten out.
// (When a Dense follows, the writer folds this reorder into the Dense's input read instead, see
// CFG::flatten_channels in balanced.h, and needs no extra buffer.)
template <typename T, int CHANNELS, int PIXELS>
void flatten(hls::stream<T>& in, hls::stream<T>& out) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    T buffer[CHANNELS][PIXELS];
    HWPRUNE_LOOP(read_input)
    for (int i = 0; i < CHANNELS * PIXELS; ++i) {
        HWPRUNE_PRAGMA(HLS PIPELINE II=1)
        buffer[i % CHANNELS][i / CHANNELS] = in.read();
    }
    HWPRUNE_LOOP(write_output)
    for (int i = 0; i < CHANNELS * PIXELS; ++i) {
        HWPRUNE_PRAGMA(HLS PIPELINE II=1)
        out.write(buffer[i / PIXELS][i % PIXELS]);
    }
}

}  // namespace hwprune

#endif  // HWPRUNE_POOL_H
