// hwprune HLS kernel library: grouped and depthwise 2-D convolution on the balanced sparse MAC engine.
//
// A conv with G groups splits the C input channels and the F filters into G equal parts; filter f of
// group g = f / (F/G) reads only input channels g*C/G .. (g+1)*C/G - 1. Lowering keeps the weight
// matrix [F, C/G*kh*kw] (each row balanced over its own group's window), and the schedule is the RTL
// kernel's (docs/architecture.md 7.4, "group-serial"): for every output pixel, group by group, gather
// that group's window (C/G*kh*kw inputs in (channel, kh, kw) order) and run balanced_mac on the group's
// F/G filters only. So no MAC meets a cross-group zero, and depthwise (G = C = F, or F = m*C for a
// channel multiplier m) is the case of C/G = 1.
//
// The weight arrays hold the groups' passes one after another: group g's filters start at row
// g * group_passes * lanes (rows past a group's filters are zero padding), offsets and per-row
// parameters likewise. Not in the umbrella header: the writer copies it into projects that use it.
//
// CFG = conv2d's config (conv.h) plus conv_groups (G), group_channels (C/G), group_outputs (F/G),
// group_passes (ceil(group_outputs / lanes)); passes = conv_groups * group_passes.
#ifndef HWPRUNE_GROUPED_CONV_H
#define HWPRUNE_GROUPED_CONV_H

#include "balanced.h"
#include "conv.h"

namespace hwprune {

// One group's view of CFG: balanced_mac then computes exactly that group's filters.
template <class CFG>
struct group_config : CFG {
    static const int out_features = CFG::group_outputs;
    static const int passes = CFG::group_passes;
};

template <class CFG, typename W_T, typename O_T, typename B_T, typename M_T, typename S_T>
void grouped_conv2d(hls::stream<typename CFG::in_t>& in, hls::stream<typename CFG::out_t>& out,
                    const W_T weights[CFG::passes * CFG::lanes][CFG::groups][CFG::kept],
                    const O_T offsets[CFG::offset_rows][CFG::offset_groups][CFG::offset_kept],
                    const B_T bias[CFG::passes * CFG::lanes], const M_T mult[CFG::passes * CFG::lanes],
                    const S_T shift[CFG::passes * CFG::lanes]) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    typedef group_config<CFG> GCFG;
    static_assert(CFG::in_channels == CFG::conv_groups * CFG::group_channels, "groups must divide the channels");
    static_assert(CFG::out_features == CFG::conv_groups * CFG::group_outputs, "groups must divide the filters");
    static_assert(CFG::passes == CFG::conv_groups * CFG::group_passes, "passes come group by group");
    static_assert(CFG::in_features == CFG::group_channels * CFG::kernel_h * CFG::kernel_w,
                  "the K axis of a grouped conv is C/G*kh*kw");
    const int MACS = CFG::macs;
    const int ROWS = CFG::group_passes * CFG::lanes;  // weight rows of one group
    // offsets rows of one group: none to skip when dense, one list per pass when shared
    const int OFFSET_ROWS = CFG::dense ? 0 : (CFG::shared_offsets ? CFG::group_passes : ROWS);
    typedef typename CFG::in_t in_t;
    typedef typename CFG::out_t out_t;

    in_t fmap[CFG::in_channels][CFG::in_height][CFG::in_width];
    in_t x[CFG::groups][CFG::group_size];
    out_t y[CFG::group_outputs];
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=x cyclic factor=MACS dim=1)
    HWPRUNE_PRAGMA(HLS ARRAY_PARTITION variable=x complete dim=2)
    HWPRUNE_UNUSED(MACS);

    read_feature_map<in_t, CFG::in_channels, CFG::in_height, CFG::in_width>(in, fmap);

    HWPRUNE_LOOP(pixels_y)
    for (int oy = 0; oy < CFG::out_height; ++oy) {
        HWPRUNE_LOOP(pixels_x)
        for (int ox = 0; ox < CFG::out_width; ++ox) {
            HWPRUNE_LOOP(conv_groups)
            for (int g = 0; g < CFG::conv_groups; ++g) {
                gather_window<CFG>(fmap, oy, ox, g * CFG::group_channels, x);
                balanced_mac<GCFG>(x, weights + g * ROWS, offsets + g * OFFSET_ROWS, bias + g * ROWS,
                                   mult + g * ROWS, shift + g * ROWS, y);
                HWPRUNE_LOOP(write_group)
                for (int f = 0; f < CFG::group_outputs; ++f) {
                    HWPRUNE_PRAGMA(HLS PIPELINE II=1)
                    out.write(y[f]);
                }
            }
        }
    }
}

}  // namespace hwprune

#endif  // HWPRUNE_GROUPED_CONV_H
