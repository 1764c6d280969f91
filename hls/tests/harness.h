// Tiny unit-test harness for the hwprune HLS headers (no third-party test framework needed on the
// host that runs the C-sim: just g++ and the ap_int headers).
//   HWTEST(name) { HWCHECK_EQ(actual, expected); }
// main.cpp runs every registered test (or the ones named on the command line) and exits non-zero
// if any check failed, so pytest (tests/sim/test_hls_headers.py) only needs the exit status.
#ifndef HWPRUNE_TEST_HARNESS_H
#define HWPRUNE_TEST_HARNESS_H

#include <cstdio>
#include <vector>

namespace hwtest {

typedef void (*test_fn)();

struct test_case {
    const char* name;
    test_fn fn;
};

inline std::vector<test_case>& registry() {
    static std::vector<test_case> cases;
    return cases;
}

inline int& failures() {
    static int count = 0;
    return count;
}

struct registrar {
    registrar(const char* name, test_fn fn) {
        test_case c = {name, fn};
        registry().push_back(c);
    }
};

inline bool check_eq(long long actual, long long expected, const char* a, const char* e, const char* file,
                     int line) {
    if (actual == expected) return true;
    ++failures();
    std::printf("%s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld\n", file, line, a, e, actual, expected);
    return false;
}

// Deterministic pseudo-random integers in [lo, hi] (a 64-bit LCG: same sequence on every host).
struct lcg {
    unsigned long long state;
    explicit lcg(unsigned long long seed) : state(seed * 6364136223846793005ULL + 1442695040888963407ULL) {}
    long long next(long long lo, long long hi) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        const unsigned long long span = static_cast<unsigned long long>(hi - lo) + 1ULL;
        return lo + static_cast<long long>((state >> 11) % span);
    }
};

// The requantiser written with plain 64-bit integers (g++ shifts signed values arithmetically):
// an independent formulation of docs/architecture.md section 3 for checking the ap_int version.
inline long long requant_ref(long long acc, long long mult, int shift, long long lo, long long hi) {
    const long long v = (acc * mult + (1LL << (shift - 1))) >> shift;
    return v < lo ? lo : (v > hi ? hi : v);
}

}  // namespace hwtest

#define HWTEST(name)                                                  \
    static void name();                                               \
    static const hwtest::registrar name##_registrar(#name, &name);    \
    static void name()

#define HWCHECK_EQ(actual, expected)                                                                  \
    hwtest::check_eq(static_cast<long long>(actual), static_cast<long long>(expected), #actual, #expected, \
                     __FILE__, __LINE__)

#endif  // HWPRUNE_TEST_HARNESS_H
