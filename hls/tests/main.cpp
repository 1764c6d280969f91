// Runner of the header unit tests: `hls_tests [NAME ...]` runs all (or the named) tests.
#include <cstdio>
#include <cstring>

#include "harness.h"

int main(int argc, char** argv) {
    int ran = 0;
    for (std::size_t i = 0; i < hwtest::registry().size(); ++i) {
        const hwtest::test_case& c = hwtest::registry()[i];
        bool selected = argc < 2;
        for (int a = 1; a < argc; ++a) selected = selected || std::strcmp(argv[a], c.name) == 0;
        if (!selected) continue;
        const int before = hwtest::failures();
        c.fn();
        ++ran;
        std::printf("%s %s\n", hwtest::failures() == before ? "PASS" : "FAIL", c.name);
    }
    std::printf("%d tests, %d failed checks\n", ran, hwtest::failures());
    return (hwtest::failures() == 0 && ran > 0) ? 0 : 1;
}
