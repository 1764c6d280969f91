// hwprune HLS kernel library: the balanced sparse MAC engine and the dense (fully connected) kernel.
//
// One engine serves every balanced pattern (N:M, bank-balanced, balanced stochastic, block-punched
// balanced, and dense as "keep all"), because lowering packs them all into one GroupLayout
// (hwprune/prune/patterns/base.py): the K inputs are cut into G groups of S; every row keeps
// exactly KEPT weights per group, weights[r][g][j] multiplies input g*S + offsets[.][g][j].
//
// Schedule (KernelSpec's, so the HLS and RTL kernels do the same work): LANES rows are computed in
// parallel; each lane has MACS multipliers, multiplier u reads groups u, u+MACS, u+2*MACS, ...; one
// pipelined step (II=1) does LANES*MACS useful MACs and no step is spent on a pruned weight, so a
// pass takes (G / MACS) * KEPT steps and an input vector ceil(OUT / LANES) passes.
//
// Config struct CFG (generated per layer by hwprune.backends.hls):
//   typedefs  in_t, out_t, weight_t, acc_t (ap_int<acc_bits>), mult_t, shift_t, offset_t
//   ints      in_features (K), out_features, lanes, macs, groups, group_size, kept, passes,
//             offset_rows (passes*lanes; passes when the lanes of a pass share offsets;
//             1 when dense), offset_groups, offset_kept (1 when dense)
//             flatten_channels (dense only: 1 for a plain vector; C when the input is a flattened
//             C x H x W map arriving channels-last, so beat i is input (i % C) * H*W + i / C: the
//             Flatten reorder folded into the read, no buffer of its own)
//   bools     relu, dense (every position kept: offsets unused), shared_offsets
// Arrays: weights[passes*lanes][groups][kept] (rows past out_features are zero padding),
//         offsets[offset_rows][offset_groups][offset_kept], bias/mult/shift[passes*lanes].
//         Their element types are template parameters: under synthesis the generated ROMs are the
//         exact ap_int types above; for C-sim they may be plain C integers of the same values (see
//         HWPRUNE_ROM in types.h), which g++ compiles far faster. Every read converts to the CFG type.
// Arithmetic: acc_t wraps modulo 2^acc_bits like two's-complement hardware; lowering sizes acc_bits
// so the final sum always fits, hence the result is exact whatever the order of the additions.
#ifndef HWPRUNE_BALANCED_H
#define HWPRUNE_BALANCED_H

#include "requant.h"
#include "stream.h"

namespace hwprune {

// One output vector y[r], r < out_features, from the input x[g][s] = input g*S + s (zero-padded tail).
template <class CFG, typename W_T, typename O_T, typename B_T, typename M_T, typename S_T>
void balanced_mac(const typename CFG::in_t x[CFG::groups][CFG::group_size],
                  const W_T weights[CFG::passes * CFG::lanes][CFG::groups][CFG::kept],
                  const O_T offsets[CFG::offset_rows][CFG::offset_groups][CFG::offset_kept],
                  const B_T bias[CFG::passes * CFG::lanes], const M_T mult[CFG::passes * CFG::lanes],
                  const S_T shift[CFG::passes * CFG::lanes],
                  typename CFG::out_t y[CFG::out_features]) {
    HWPRUNE_PRAGMA(HLS INLINE)
    const int LANES = CFG::lanes;
    const int MACS = CFG::macs;
    const int KEPT = CFG::kept;
    const int STEPS = CFG::groups / CFG::macs;
    static_assert(CFG::groups % CFG::macs == 0, "macs must divide the groups");
    static_assert(CFG::passes * CFG::lanes >= CFG::out_features, "passes*lanes must cover the outputs");
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=weights cyclic factor=LANES dim=1)
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=weights cyclic factor=MACS dim=2)
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=offsets cyclic factor=MACS dim=2)
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=x cyclic factor=MACS dim=1)
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=x complete dim=2)
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=bias cyclic factor=LANES dim=1)
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=mult cyclic factor=LANES dim=1)
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=shift cyclic factor=LANES dim=1)
    const int OFFSET_LANES = (CFG::shared_offsets || CFG::dense) ? 1 : LANES;
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=offsets cyclic factor=OFFSET_LANES dim=1)
    HWPRUNE_UNUSED(OFFSET_LANES);
    HWPRUNE_LOOP(pass_loop)
    for (int p = 0; p < CFG::passes; ++p) {
        typename CFG::acc_t acc[LANES];
        HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=acc complete)
        HWPRUNE_LOOP(init_lanes)
        for (int l = 0; l < LANES; ++l) {
            HWPRUNE_PRAGMA(HLS UNROLL)
            acc[l] = typename CFG::acc_t(bias[p * LANES + l]);
        }
        HWPRUNE_LOOP(step_groups)
        for (int gi = 0; gi < STEPS; ++gi) {
            HWPRUNE_LOOP(step_kept)
            for (int j = 0; j < KEPT; ++j) {
                HWPRUNE_PRAGMA(HLS PIPELINE II=1)
                HWPRUNE_LOOP(lanes)
                for (int l = 0; l < LANES; ++l) {
                    HWPRUNE_PRAGMA(HLS UNROLL)
                    const int r = p * LANES + l;
                    typename CFG::acc_t sum = acc[l];
                    HWPRUNE_LOOP(macs)
                    for (int u = 0; u < MACS; ++u) {
                        HWPRUNE_PRAGMA(HLS UNROLL)
                        const int g = gi * MACS + u;
                        int pos = j;
                        if (!CFG::dense) {
                            pos = typename CFG::offset_t(offsets[CFG::shared_offsets ? p : r][g][j]).to_int();
                        }
                        sum += typename CFG::weight_t(weights[r][g][j]) * x[g][pos];
                    }
                    acc[l] = sum;
                }
            }
        }
        HWPRUNE_LOOP(requant_lanes)
        for (int l = 0; l < LANES; ++l) {
            HWPRUNE_PRAGMA(HLS UNROLL)
            const int r = p * LANES + l;
            if (r < CFG::out_features) {
                y[r] = requantize<typename CFG::out_t, CFG::relu>(acc[l], typename CFG::mult_t(mult[r]),
                                                                  typename CFG::shift_t(shift[r]));
            }
        }
    }
}

// Fully connected layer on streams: K inputs in, out_features outputs out, per input vector.
template <class CFG, typename W_T, typename O_T, typename B_T, typename M_T, typename S_T>
void dense(hls::stream<typename CFG::in_t>& in, hls::stream<typename CFG::out_t>& out,
           const W_T weights[CFG::passes * CFG::lanes][CFG::groups][CFG::kept],
           const O_T offsets[CFG::offset_rows][CFG::offset_groups][CFG::offset_kept],
           const B_T bias[CFG::passes * CFG::lanes], const M_T mult[CFG::passes * CFG::lanes],
           const S_T shift[CFG::passes * CFG::lanes]) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    const int S = CFG::group_size;
    const int MACS = CFG::macs;
    typename CFG::in_t x[CFG::groups][CFG::group_size];
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=x cyclic factor=MACS dim=1)
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=x complete dim=2)
    HWPRUNE_UNUSED(MACS);
    typename CFG::out_t y[CFG::out_features];
    static_assert(CFG::in_features % CFG::flatten_channels == 0, "flatten_channels must divide K");
    const int C = CFG::flatten_channels;
    HWPRUNE_LOOP(pad_input)
    for (int k = CFG::in_features; k < CFG::groups * S; ++k) {
        x[k / S][k % S] = 0;  // zero padding of the last group
    }
    HWPRUNE_LOOP(read_input)
    for (int i = 0; i < CFG::in_features; ++i) {
        HWPRUNE_PRAGMA(HLS PIPELINE II=1)
        const int k = (i % C) * (CFG::in_features / C) + i / C;
        x[k / S][k % S] = in.read();
    }
    balanced_mac<CFG>(x, weights, offsets, bias, mult, shift, y);
    HWPRUNE_LOOP(write_output)
    for (int r = 0; r < CFG::out_features; ++r) {
        HWPRUNE_PRAGMA(HLS PIPELINE II=1)
        out.write(y[r]);
    }
}

}  // namespace hwprune

#endif  // HWPRUNE_BALANCED_H
