// hwprune HLS kernel library: one feature map from a channels-last stream into an on-chip frame buffer.
//
// Why a header of its own: the frame-buffered kernels (conv, grouped conv, max and average pooling) all
// read their input the same way, in stream order (h, w, c), one element per beat (see conv.h).
#ifndef HWPRUNE_FRAME_H
#define HWPRUNE_FRAME_H

#include "stream.h"
#include "types.h"

namespace hwprune {

template <typename T, int CHANNELS, int HEIGHT, int WIDTH>
void read_feature_map(hls::stream<T>& in, T fmap[CHANNELS][HEIGHT][WIDTH]) {
    HWPRUNE_PRAGMA(HLS INLINE)
    HWPRUNE_LOOP(read_input)
    for (int i = 0; i < HEIGHT; ++i) {
        for (int j = 0; j < WIDTH; ++j) {
            for (int c = 0; c < CHANNELS; ++c) {
                HWPRUNE_PRAGMA(HLS PIPELINE II=1)
                fmap[c][i][j] = in.read();
            }
        }
    }
}

}  // namespace hwprune

#endif  // HWPRUNE_FRAME_H
