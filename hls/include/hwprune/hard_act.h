// hwprune HLS kernel library: the piecewise-linear activations HardSigmoid and HardSwish, and the
// table activations Sigmoid and Tanh (lookup).
//
//   hard_sigmoid  y = sat(((q + c)*M + 2^(sh-1)) >> sh) to the unsigned output (0 .. qmax is 0 .. 1.0)
//   hard_swish    the gate h = sat(((q + c_g)*M_g + 2^(sh_g-1)) >> sh_g) to gate_t (unsigned, the
//                 output's bits), then y = sat((q*h*M + 2^(sh-1)) >> sh)
//
// No table, no divider: the constants come from hwprune.quant.hard_act and the integer reference's
// _hard_sigmoid / _hard_swish compute exactly these integers; every step is the one requantiser
// (requant.h), and the writer checks that each intermediate fits its width.
#ifndef HWPRUNE_HARD_ACT_H
#define HWPRUNE_HARD_ACT_H

#include "requant.h"
#include "stream.h"

namespace hwprune {

// CFG: typedefs in_t, out_t; ints count, offset, acc_bits, mult, mult_bits, shift, shift_bits.
template <class CFG>
void hard_sigmoid(hls::stream<typename CFG::in_t>& in, hls::stream<typename CFG::out_t>& out) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    typedef ap_int<CFG::acc_bits> acc_t;
    HWPRUNE_LOOP(elements)
    for (int i = 0; i < CFG::count; ++i) {
        HWPRUNE_PRAGMA(HLS PIPELINE II=1)
        const acc_t acc = acc_t(in.read()) + acc_t(CFG::offset);
        out.write(requantize<typename CFG::out_t, false, CFG::acc_bits, CFG::mult_bits, CFG::shift_bits>(
            acc, ap_int<CFG::mult_bits>(CFG::mult), ap_uint<CFG::shift_bits>(CFG::shift)));
    }
}

// CFG: typedefs in_t, gate_t, out_t; ints count, gate_offset, gate_acc_bits, gate_mult, gate_mult_bits,
// gate_shift, gate_shift_bits, acc_bits (holds q*h), mult, mult_bits, shift, shift_bits.
template <class CFG>
void hard_swish(hls::stream<typename CFG::in_t>& in, hls::stream<typename CFG::out_t>& out) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    typedef ap_int<CFG::gate_acc_bits> gate_acc_t;
    typedef ap_int<CFG::acc_bits> acc_t;
    HWPRUNE_LOOP(elements)
    for (int i = 0; i < CFG::count; ++i) {
        HWPRUNE_PRAGMA(HLS PIPELINE II=1)
        const typename CFG::in_t q = in.read();
        const gate_acc_t shifted = gate_acc_t(q) + gate_acc_t(CFG::gate_offset);
        const typename CFG::gate_t h =
            requantize<typename CFG::gate_t, false, CFG::gate_acc_bits, CFG::gate_mult_bits, CFG::gate_shift_bits>(
                shifted, ap_int<CFG::gate_mult_bits>(CFG::gate_mult), ap_uint<CFG::gate_shift_bits>(CFG::gate_shift));
        const acc_t product = acc_t(q) * acc_t(h);
        out.write(requantize<typename CFG::out_t, false, CFG::acc_bits, CFG::mult_bits, CFG::shift_bits>(
            product, ap_int<CFG::mult_bits>(CFG::mult), ap_uint<CFG::shift_bits>(CFG::shift)));
    }
}

// Sigmoid / Tanh: y = CFG::table(q - in_min), the table of hwprune.quant.tables (one entry per input
// code, written into the config by the project writer; a function-local static array: a ROM).
// CFG: typedefs in_t, out_t; ints count, in_min.
template <class CFG>
void lookup(hls::stream<typename CFG::in_t>& in, hls::stream<typename CFG::out_t>& out) {
    HWPRUNE_PRAGMA(HLS INLINE off)
    HWPRUNE_LOOP(elements)
    for (int i = 0; i < CFG::count; ++i) {
        HWPRUNE_PRAGMA(HLS PIPELINE II=1)
        const int index = int(in.read()) - CFG::in_min;
        out.write(typename CFG::out_t(CFG::table(index)));
    }
}

}  // namespace hwprune

#endif  // HWPRUNE_HARD_ACT_H
