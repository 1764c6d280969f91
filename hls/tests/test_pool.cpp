// Unit tests of pool.h on channels-last streams: max pooling (stride, padding, negative values),
// ReLU, flatten (channels-last to CHW).
#include <hwprune/pool.h>

#include <vector>

#include "harness.h"

namespace {

template <typename T, int C, int H, int W, int K, int S, int P, int OH, int OW>
struct pool_cfg {
    typedef T data_t;
    static const int channels = C;
    static const int in_height = H;
    static const int in_width = W;
    static const int kernel_h = K;
    static const int kernel_w = K;
    static const int stride_h = S;
    static const int stride_w = S;
    static const int pad_top = P;
    static const int pad_left = P;
    static const int out_height = OH;
    static const int out_width = OW;
};

template <class CFG>
void check_pool(unsigned long long seed) {
    const int C = CFG::channels, H = CFG::in_height, W = CFG::in_width;
    hwtest::lcg rng(seed);
    std::vector<long long> x(C * H * W);
    hls::stream<typename CFG::data_t> in("in"), out("out");
    for (std::size_t i = 0; i < x.size(); ++i)
        x[i] = rng.next(hwprune::range_of<typename CFG::data_t>::min(), hwprune::range_of<typename CFG::data_t>::max());
    for (int i = 0; i < H; ++i)  // channels-last beats
        for (int j = 0; j < W; ++j)
            for (int c = 0; c < C; ++c) in.write(x[(c * H + i) * W + j]);
    hwprune::maxpool2d<CFG>(in, out);
    HWCHECK_EQ(out.size(), C * CFG::out_height * CFG::out_width);
    for (int oy = 0; oy < CFG::out_height; ++oy)
        for (int ox = 0; ox < CFG::out_width; ++ox)
            for (int c = 0; c < C; ++c) {
                long long best = hwprune::range_of<typename CFG::data_t>::min();
                for (int ky = 0; ky < CFG::kernel_h; ++ky)
                    for (int kx = 0; kx < CFG::kernel_w; ++kx) {
                        const int iy = oy * CFG::stride_h - CFG::pad_top + ky;
                        const int ix = ox * CFG::stride_w - CFG::pad_left + kx;
                        if (iy >= 0 && iy < H && ix >= 0 && ix < W && x[(c * H + iy) * W + ix] > best)
                            best = x[(c * H + iy) * W + ix];
                    }
                if (out.empty()) return;
                HWCHECK_EQ(out.read().to_int64(), best);
            }
}

}  // namespace

HWTEST(maxpool_2x2_stride2_uint8) { check_pool<pool_cfg<ap_uint<8>, 3, 6, 4, 2, 2, 0, 3, 2> >(31); }
HWTEST(maxpool_3x3_stride2_pad1_int8) { check_pool<pool_cfg<ap_int<8>, 2, 7, 5, 3, 2, 1, 4, 3> >(32); }

HWTEST(maxpool_all_minimum) {
    typedef pool_cfg<ap_int<8>, 1, 2, 2, 2, 2, 0, 1, 1> cfg;
    hls::stream<ap_int<8> > in("in"), out("out");
    for (int i = 0; i < 4; ++i) in.write(-128);
    hwprune::maxpool2d<cfg>(in, out);
    HWCHECK_EQ(out.read().to_int(), -128);
}

HWTEST(relu_clamps_negative_only) {
    hls::stream<ap_int<8> > in("in");
    hls::stream<ap_uint<8> > out("out");
    const int values[5] = {-128, -1, 0, 1, 127};
    for (int i = 0; i < 5; ++i) in.write(values[i]);
    hwprune::relu<ap_int<8>, ap_uint<8>, 5>(in, out);
    const int expected[5] = {0, 0, 0, 1, 127};
    for (int i = 0; i < 5; ++i) HWCHECK_EQ(out.read().to_int(), expected[i]);
}

HWTEST(flatten_reorders_channels_last_to_chw) {
    hls::stream<ap_uint<6> > in("in"), out("out");
    for (int p = 0; p < 4; ++p)  // pixel p, channel c carries value c * 4 + p (its CHW index)
        for (int c = 0; c < 3; ++c) in.write(c * 4 + p);
    hwprune::flatten<ap_uint<6>, 3, 4>(in, out);
    for (int i = 0; i < 12; ++i) HWCHECK_EQ(out.read().to_int(), i);
    HWCHECK_EQ(out.empty(), true);
}
