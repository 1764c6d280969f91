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
        for (int k = 0; k < CFG::in_features; ++k) in.write(x[k]);
        hwprune::dense<CFG>(in, out, p.w, p.off, p.bias, p.mult, p.shift);
        HWCHECK_EQ(in.size(), 0);
        HWCHECK_EQ(out.size(), CFG::out_features);
        for (int r = 0; r < CFG::out_features && !out.empty(); ++r) HWCHECK_EQ(out.read().to_int64(), p.expect(r, x));
    }
}

}  // namespace

HWTEST(dense_keep_all) { check_dense<mac_cfg<12, 7, 3, 2, 3, 3, true, false> >(1); }
HWTEST(dense_keep_all_signed_out) { check_dense<mac_cfg<16, 5, 2, 4, 4, 4, false, false> >(2); }
HWTEST(dense_sparse_padded_group) { check_dense<mac_cfg<13, 10, 4, 2, 4, 2, true, false> >(3); }
HWTEST(dense_sparse_one_lane_one_mac) { check_dense<mac_cfg<9, 3, 1, 1, 3, 1, false, false> >(4); }
HWTEST(dense_shared_offsets) { check_dense<mac_cfg<24, 9, 3, 3, 8, 3, false, true> >(5); }
