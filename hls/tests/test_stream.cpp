// Unit tests of hwprune/stream.h: FIFO order and the size/empty queries, on whichever stream the
// build selected. HWPRUNE_EXPECT_SHIM (set by the test driver) says which one that must be, so a
// build that silently picked the other is caught.
#include <hwprune/stream.h>
#include <hwprune/types.h>

#include "harness.h"

HWTEST(stream_is_the_expected_implementation) {
#if defined(HWPRUNE_EXPECT_SHIM)
#if defined(HWPRUNE_STREAM_SHIM)
    HWCHECK_EQ(1, 1);
#else
    HWCHECK_EQ(0, 1);  // the host shim was requested but the vendor stream was used
#endif
#else
#if defined(HWPRUNE_STREAM_SHIM)
    HWCHECK_EQ(0, 1);  // <hls_stream.h> was on the include path but the shim was used
#else
    HWCHECK_EQ(1, 1);
#endif
#endif
}

HWTEST(stream_is_fifo) {
    hls::stream<ap_int<12> > s("fifo");
    HWCHECK_EQ(s.empty(), true);
    for (int i = -5; i < 5; ++i) s.write(ap_int<12>(i * 100));
    s << ap_int<12>(2047);
    HWCHECK_EQ(s.size(), 11);
    for (int i = -5; i < 5; ++i) HWCHECK_EQ(s.read().to_int(), i * 100);
    ap_int<12> last;
    s >> last;
    HWCHECK_EQ(last.to_int(), 2047);
    HWCHECK_EQ(s.empty(), true);
}
