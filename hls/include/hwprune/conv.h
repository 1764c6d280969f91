// hwprune HLS kernel library: 2-D convolution on the balanced sparse MAC engine.
//
// A conv layer is the balanced engine applied once per output pixel to the pixel's receptive field,
// flattened in (channel, kh, kw) order: exactly the K axis lowering packed (GroupLayout of the
// [filters, C*kh*kw] weight matrix). So every balanced pattern works unchanged, and the
// block-punched balanced pattern is the case where the lanes of one pass (a block of filters) share
// one offset list: the writer then sets CFG::shared_offsets and stores one list per block.
//
// Feature maps stream channels-last, pixel by pixel: beat order (h, w, c), the order camera data and
// line buffers use, and the RTL kernels' order (hwprune.sim.golden.stream_order). Each output pixel's
// filters leave as soon as they are computed. The kernel keeps the input feature map on chip (a
// frame buffer): right for the small images this flow targets; large images would want line
// buffers (docs/hls.md).
//
// CFG = the balanced engine's config (balanced.h) plus the geometry:
//   in_channels, in_height, in_width, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left,
//   dilation_h, dilation_w, out_height, out_width   (group 1; zero padding, as ONNX Conv)
#ifndef HWPRUNE_CONV_H
#define HWPRUNE_CONV_H

#include "balanced.h"
#include "frame.h"

namespace hwprune {

// The receptive field of output pixel (oy, ox) over the in_features / (kh*kw) channels from
// `channel0`, in (c, kh, kw) order, as the engine's groups; zero outside the image (padding) and
// in the padded tail of the last group. A grouped conv gathers each group's channels in turn.
template <class CFG>
void gather_window(const typename CFG::in_t fmap[CFG::in_channels][CFG::in_height][CFG::in_width], int oy,
                   int ox, int channel0, typename CFG::in_t x[CFG::groups][CFG::group_size]) {
    HWPRUNE_PRAGMA(HLS INLINE)
    const int S = CFG::group_size;
    const int WINDOW = CFG::kernel_h * CFG::kernel_w;
    HWPRUNE_LOOP(gather)
    for (int k = 0; k < CFG::groups * S; ++k) {
        HWPRUNE_PRAGMA(HLS PIPELINE II=1)
        const int c = channel0 + k / WINDOW;
        const int ky = (k / CFG::kernel_w) % CFG::kernel_h;
        const int kx = k % CFG::kernel_w;
        const int iy = oy * CFG::stride_h - CFG::pad_top + ky * CFG::dilation_h;
        const int ix = ox * CFG::stride_w - CFG::pad_left + kx * CFG::dilation_w;
        const bool inside = k < CFG::in_features && iy >= 0 && iy < CFG::in_height && ix >= 0 &&
                            ix < CFG::in_width;
        x[k / S][k % S] = inside ? fmap[c][iy][ix] : typename CFG::in_t(0);
    }
}

template <class CFG, typename W_T, typename O_T, typename B_T, typename M_T, typename S_T>
void conv2d(hls::stream<typename CFG::in_t>& in, hls::stream<typename CFG::out_t>& out,
            const W_T weights[CFG::passes * CFG::lanes][CFG::groups][CFG::kept],
            const O_T offsets[CFG::offset_rows][CFG::offset_groups][CFG::offset_kept],
            const B_T bias[CFG::passes * CFG::lanes], const M_T mult[CFG::passes * CFG::lanes],
            const S_T shift[CFG::passes * CFG::lanes]) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    static_assert(CFG::in_features == CFG::in_channels * CFG::kernel_h * CFG::kernel_w,
                  "the K axis of a conv is C*kh*kw");
    const int MACS = CFG::macs;
    typedef typename CFG::in_t in_t;
    typedef typename CFG::out_t out_t;

    in_t fmap[CFG::in_channels][CFG::in_height][CFG::in_width];
    in_t x[CFG::groups][CFG::group_size];
    out_t y[CFG::out_features];
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=x cyclic factor=MACS dim=1)
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=x complete dim=2)
    HWPRUNE_UNUSED(MACS);

    read_feature_map<in_t, CFG::in_channels, CFG::in_height, CFG::in_width>(in, fmap);

    HWPRUNE_LOOP(pixels_y)
    for (int oy = 0; oy < CFG::out_height; ++oy) {
        HWPRUNE_LOOP(pixels_x)
        for (int ox = 0; ox < CFG::out_width; ++ox) {
            gather_window<CFG>(fmap, oy, ox, 0, x);
            balanced_mac<CFG>(x, weights, offsets, bias, mult, shift, y);
            HWPRUNE_LOOP(write_pixel)
            for (int f = 0; f < CFG::out_features; ++f) {
                HWPRUNE_PRAGMA(HLS PIPELINE II=1)
                out.write(y[f]);
            }
        }
    }
}

}  // namespace hwprune

#endif  // HWPRUNE_CONV_H
