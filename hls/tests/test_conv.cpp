// Unit tests of hwprune::conv2d (conv.h) against a naive convolution over the unpacked weights:
// padding, stride, dilation, non-square maps, sparse and shared-offset (block-punched) layouts.
#include "fixture.h"

namespace {

template <int C, int H, int W, int KH, int KW, int SH, int SW, int PT, int PL, int PB, int PR, int DH, int DW>
struct geometry {
    static const int in_channels = C;
    static const int in_height = H;
    static const int in_width = W;
    static const int kernel_h = KH;
    static const int kernel_w = KW;
    static const int stride_h = SH;
    static const int stride_w = SW;
    static const int pad_top = PT;
    static const int pad_left = PL;
    static const int dilation_h = DH;
    static const int dilation_w = DW;
    static const int out_height = (H + PT + PB - DH * (KH - 1) - 1) / SH + 1;
    static const int out_width = (W + PL + PR - DW * (KW - 1) - 1) / SW + 1;
};

template <class MAC, class GEO>
struct conv_cfg : MAC, GEO {};

template <class CFG>
void check_conv(unsigned long long seed) {
    static layer_params<CFG> p(seed);
    hwtest::lcg rng(seed + 1);
    const int C = CFG::in_channels, H = CFG::in_height, W = CFG::in_width;
    for (int v = 0; v < 12; ++v) {
        std::vector<long long> fmap(C * H * W);
        for (std::size_t i = 0; i < fmap.size(); ++i) fmap[i] = v == 0 ? 255 : rng.next(0, 255);
        hls::stream<typename CFG::in_t> in("in");
        hls::stream<typename CFG::out_t> out("out");
        for (int i = 0; i < H; ++i)  // channels-last beats
            for (int j = 0; j < W; ++j)
                for (int c = 0; c < C; ++c) in.write(fmap[(c * H + i) * W + j]);
        hwprune::conv2d<CFG>(in, out, p.w, p.off, p.bias, p.mult, p.shift);
        HWCHECK_EQ(out.size(), CFG::out_features * CFG::out_height * CFG::out_width);
        for (int oy = 0; oy < CFG::out_height; ++oy) {
            for (int ox = 0; ox < CFG::out_width; ++ox) {
                for (int f = 0; f < CFG::out_features; ++f) {
                    std::vector<long long> window(CFG::in_features, 0);  // (c, ky, kx) order
                    for (int c = 0; c < C; ++c)
                        for (int ky = 0; ky < CFG::kernel_h; ++ky)
                            for (int kx = 0; kx < CFG::kernel_w; ++kx) {
                                const int iy = oy * CFG::stride_h - CFG::pad_top + ky * CFG::dilation_h;
                                const int ix = ox * CFG::stride_w - CFG::pad_left + kx * CFG::dilation_w;
                                if (iy >= 0 && iy < H && ix >= 0 && ix < W)
                                    window[(c * CFG::kernel_h + ky) * CFG::kernel_w + kx] = fmap[(c * H + iy) * W + ix];
                            }
                    if (out.empty()) return;
                    HWCHECK_EQ(out.read().to_int64(), p.expect(f, window));
                }
            }
        }
    }
}

}  // namespace

// 3x3, pad 1, dense keep-all over the 9 positions of each channel.
HWTEST(conv_dense_3x3_pad1) {
    check_conv<conv_cfg<mac_cfg<18, 5, 2, 2, 9, 9, true, false>, geometry<2, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1> > >(21);
}
// Stride 2, asymmetric padding, sparse groups of 4 with a padded tail (K = 3*3*3 = 27).
HWTEST(conv_sparse_stride2) {
    check_conv<conv_cfg<mac_cfg<27, 7, 3, 1, 4, 2, false, false>, geometry<3, 7, 5, 3, 3, 2, 2, 0, 1, 1, 0, 1, 1> > >(22);
}
// Dilation 2, 2x3 kernel, block-punched: the 4 lanes of a pass share one offset list.
HWTEST(conv_block_punched_dilated) {
    check_conv<conv_cfg<mac_cfg<12, 8, 4, 2, 6, 2, true, true>, geometry<2, 6, 7, 2, 3, 1, 1, 1, 1, 1, 1, 2, 2> > >(23);
}
