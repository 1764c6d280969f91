// hwprune HLS kernel library: stream types.
//
// Why this file exists: Vitis HLS provides <hls_stream.h>; a plain g++ C-simulation may not have it
// (the ap_types copy shipped by hls4ml does, a bare ap_int checkout does not). Every kernel includes
// this header instead of <hls_stream.h> so that:
//   * under synthesis (__SYNTHESIS__) or whenever <hls_stream.h> is on the include path, the vendor
//     stream is used unchanged;
//   * otherwise (or when HWPRUNE_HOST_STREAM is defined, which the unit tests do to exercise it) a
//     minimal host-side FIFO with the same member functions is used for C-simulation.
// The shim is strict on purpose: reading an empty stream aborts with the stream's name, because in
// hardware that read would block forever and a C-sim must not silently return a default value.
#ifndef HWPRUNE_STREAM_H
#define HWPRUNE_STREAM_H

#if defined(__SYNTHESIS__)
#define HWPRUNE_USE_VENDOR_STREAM 1
#elif !defined(HWPRUNE_HOST_STREAM) && defined(__has_include)
#if __has_include(<hls_stream.h>)
#define HWPRUNE_USE_VENDOR_STREAM 1
#endif
#endif

#if defined(HWPRUNE_USE_VENDOR_STREAM)
#include <hls_stream.h>
#else
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>

#define HWPRUNE_STREAM_SHIM 1

namespace hls {

// Host-side model of hls::stream<T>: an unbounded FIFO (depth pragmas only matter in hardware).
template <typename T>
class stream {
  public:
    stream() : name_("stream") {}
    explicit stream(const char* name) : name_(name) {}

    void write(const T& value) { data_.push_back(value); }
    void operator<<(const T& value) { write(value); }

    T read() {
        if (data_.empty()) {
            std::fprintf(stderr, "hwprune stream shim: read from empty stream '%s'\n", name_.c_str());
            std::abort();
        }
        T value = data_.front();
        data_.pop_front();
        return value;
    }
    void read(T& value) { value = read(); }
    void operator>>(T& value) { value = read(); }

    bool read_nb(T& value) {
        if (data_.empty()) return false;
        value = read();
        return true;
    }
    bool write_nb(const T& value) {
        write(value);
        return true;
    }

    bool empty() const { return data_.empty(); }
    bool full() const { return false; }
    std::size_t size() const { return data_.size(); }
    const char* name() const { return name_.c_str(); }

  private:
    stream(const stream&);             // streams are channels, not values: no copies
    stream& operator=(const stream&);
    std::string name_;
    std::deque<T> data_;
};

}  // namespace hls
#endif  // HWPRUNE_USE_VENDOR_STREAM

#endif  // HWPRUNE_STREAM_H
