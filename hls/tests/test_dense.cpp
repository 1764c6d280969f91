// Unit tests of hwprune::dense (balanced.h): keep-all, sparse with a padded last group, shared
// (block-punched) offsets, one lane, one MAC; several passes over the lanes; edge inputs.
#include "fixture.h"

namespace {

template <class CFG>
void check_dense(unsigned long long seed) {
    static layer_params<CFG> p(seed);
    hwtest::lcg rng(seed + 1);
    for (int v = 0; v < 40; ++v) {
        std::vector<long long> x(CFG::in_features);
        for (int k = 0; k < CFG::in_features; ++k) {
            x[k] = v == 0 ? 0 : (v == 1 ? 255 : (v == 2 ? (k % 2) * 255 : rng.next(0, 255)));
        }
        hls::stream<typename CFG::in_t> in("in");
        hls::stream<typename CFG::out_t> out("out");
        const int C = CFG::flatten_channels, PIXELS = CFG::in_features / C;
        for (int i = 0; i < CFG::in_features; ++i) in.write(x[(i % C) * PIXELS + i / C]);  // channels-last beats
        hwprune::dense<CFG>(in, out, p.w, p.off, p.bias, p.mult, p.shift);
        HWCHECK_EQ(in.size(), 0);
        HWCHECK_EQ(out.size(), CFG::out_features);
        for (int r = 0; r < CFG::out_features && !out.empty(); ++r) HWCHECK_EQ(out.read().to_int64(), p.expect(r, x));
    }
}

}  // namespace

HWTEST(dense_keep_all) { check_dense<mac_cfg<12, 7, 3, 2, 3, 3, true, false> >(1); }
HWTEST(dense_keep_all_signed_out) { check_dense<mac_cfg<16, 5, 2, 4, 4, 4, false, false> >(2); }
HWTEST(dense_sparse_padded_group) { check_dense<mac_cfg<14, 10, 4, 2, 4, 2, true, false> >(3); }
HWTEST(dense_sparse_one_lane_one_mac) { check_dense<mac_cfg<9, 3, 1, 1, 3, 1, false, false> >(4); }
HWTEST(dense_shared_offsets) { check_dense<mac_cfg<24, 9, 3, 3, 8, 3, false, true> >(5); }

// A Dense after Flatten of a 3 x 2 x 2 map: beats arrive channels-last, K is in (c, h, w) order.
struct flattened_cfg : mac_cfg<12, 5, 2, 3, 4, 2, true, false> {
    static const int flatten_channels = 3;
};
HWTEST(dense_reads_flattened_channels_last_map) { check_dense<flattened_cfg>(6); }
