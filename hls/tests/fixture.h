// Shared fixture of the MAC-kernel unit tests: a config template, random balanced weights in the
// kernel's packed form, and a naive long-long dot product over the *unpacked* weights, so the
// packed/offset indexing of the kernel is checked against a plain dense formulation.
#ifndef HWPRUNE_TEST_FIXTURE_H
#define HWPRUNE_TEST_FIXTURE_H

#include <hwprune/hwprune.h>

#include <cstdio>
#include <vector>

#include "harness.h"

template <int K, int OUT, int LANES, int MACS, int S, int KEPT, bool RELU, bool SHARED>
struct mac_cfg {
    typedef ap_uint<8> in_t;
    typedef typename hwprune::int_type<8, !RELU>::type out_t;
    typedef ap_int<8> weight_t;
    typedef ap_int<26> acc_t;
    typedef ap_int<16> mult_t;
    typedef ap_uint<6> shift_t;
    typedef ap_uint<4> offset_t;
    static const int in_features = K;
    static const int out_features = OUT;
    static const int lanes = LANES;
    static const int macs = MACS;
    static const int group_size = S;
    static const int kept = KEPT;
    static const int groups = (K + S - 1) / S;
    static const int passes = (OUT + LANES - 1) / LANES;
    static const int flatten_channels = 1;
    static const bool relu = RELU;
    static const bool dense = KEPT == S;
    static const bool shared_offsets = SHARED && KEPT != S;
    static const int offset_rows = dense ? 1 : (shared_offsets ? passes : passes * lanes);
    static const int offset_groups = dense ? 1 : groups;
    static const int offset_kept = dense ? 1 : kept;
};

// Packed parameters of one layer plus its unpacked dense weight matrix [rows][K].
template <class CFG>
struct layer_params {
    typename CFG::weight_t w[CFG::passes * CFG::lanes][CFG::groups][CFG::kept];
    typename CFG::offset_t off[CFG::offset_rows][CFG::offset_groups][CFG::offset_kept];
    typename CFG::acc_t bias[CFG::passes * CFG::lanes];
    typename CFG::mult_t mult[CFG::passes * CFG::lanes];
    typename CFG::shift_t shift[CFG::passes * CFG::lanes];
    std::vector<std::vector<long long> > dense_w;

    explicit layer_params(unsigned long long seed) : dense_w(CFG::passes * CFG::lanes,
                                                              std::vector<long long>(CFG::in_features, 0)) {
        hwtest::lcg rng(seed);
        const int rows = CFG::passes * CFG::lanes;
        std::vector<std::vector<std::vector<int> > > pos(rows, std::vector<std::vector<int> >(CFG::groups));
        for (int r = 0; r < rows; ++r) {
            for (int g = 0; g < CFG::groups; ++g) {
                const int real = (g + 1) * CFG::group_size <= CFG::in_features ? CFG::group_size
                                                                             : CFG::in_features - g * CFG::group_size;
                if (real < CFG::kept) {  // the last group must hold KEPT real inputs (GroupLayout's rule)
                    ++hwtest::failures();
                    std::printf("invalid test layout: group %d has %d real inputs < kept\n", g, real);
                    return;
                }
                const bool reuse = CFG::shared_offsets && r % CFG::lanes != 0;
                if (reuse) {
                    pos[r][g] = pos[r - r % CFG::lanes][g];
                    continue;
                }
                std::vector<bool> keep(real, false);  // pick KEPT distinct real positions, in order
                for (int n = 0; n < CFG::kept;) {
                    const int p = static_cast<int>(rng.next(0, real - 1));
                    if (!keep[p]) keep[p] = true, ++n;
                }
                for (int p = 0; p < real; ++p)
                    if (keep[p]) pos[r][g].push_back(p);
            }
        }
        for (int r = 0; r < rows; ++r) {
            const bool pad = r >= CFG::out_features;
            for (int g = 0; g < CFG::groups; ++g) {
                for (int j = 0; j < CFG::kept; ++j) {
                    const long long v = pad ? 0 : rng.next(-127, 127);
                    w[r][g][j] = v;
                    dense_w[r][g * CFG::group_size + pos[r][g][j]] = v;
                    if (!CFG::dense) {
                        const int orow = CFG::shared_offsets ? r / CFG::lanes : r;
                        off[orow][g][j] = pos[r][g][j];
                    }
                }
            }
            bias[r] = pad ? 0 : rng.next(-3000, 3000);
            mult[r] = rng.next(16384, 32767);
            shift[r] = static_cast<int>(rng.next(19, 23));
        }
        if (CFG::dense) off[0][0][0] = 0;
    }

    // Expected output of row r for an input given as a flat vector of K values.
    long long expect(int r, const std::vector<long long>& x) const {
        long long acc = bias[r].to_int64();
        for (int k = 0; k < CFG::in_features; ++k) acc += dense_w[r][k] * x[k];
        const long long lo = CFG::relu ? 0 : hwprune::range_of<typename CFG::out_t>::min();
        const long long hi = hwprune::range_of<typename CFG::out_t>::max();
        return hwtest::requant_ref(acc, mult[r].to_int64(), shift[r].to_int(), lo, hi);
    }
};

#endif  // HWPRUNE_TEST_FIXTURE_H
