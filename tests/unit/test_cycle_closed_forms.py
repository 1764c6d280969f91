"""The cycle models compute whole rows and frames at once (numpy, ``in_order``'s closed form,
``EngineModel.push_bounds``); here each is compared, cycle for cycle, with the per-beat statement of its
rules (written out below exactly as the rules in ``hwprune.lower.conv_cycles`` and ``stage_cycles`` read)
on random geometries, lanes and arrivals, including the cases the shortcuts treat apart (passes that
wait for a result bank, strides beyond the kernel, padding, dilation, groups)."""

from __future__ import annotations

import numpy as np
import pytest

from hwprune.lower.conv_cycles import ConvModel, buffer_rows, released_rows, window_sources
from hwprune.lower.cycles import EngineModel, EngineTiming, in_order, waits_for_nothing
from hwprune.lower.engine_schedule import back_to_back, engine_schedule, steady_state_closed_form, steady_state_interval
from hwprune.lower.kernel_spec import ConvGeometry
from hwprune.lower.network_cycles import fifo_depth_needed
from hwprune.lower.stage_cycles import MergeModel, PoolModel
from hwprune.prune.patterns.base import GroupLayout
from hwprune.sim.golden import source_arrivals
from hwprune.sim.vectors import random_spec


def _in_order_loop(offers, first):
    taken, previous = [], first - 1
    for cycle in offers:
        previous = max(int(cycle), previous + 1)
        taken.append(previous)
    return taken


class _RowBuffer:
    """Rule 5 beat by beat: one beat per cycle, in order, a beat of row r after row r - R is released."""

    def __init__(self, g: ConvGeometry) -> None:
        self.height, self.row_beats, self.rows = g.in_height, g.in_width * g.in_channels, buffer_rows(g)
        self.released: dict[int, int] = {}
        self.free, self.frames, self.accepted, self.arrival = 0, 0, [], []

    def fill(self, beat: int) -> None:
        base = self.frames * self.height
        previous = self.accepted[-1] if self.accepted else self.free - 1
        for i in range(len(self.accepted), beat + 1):
            row = base + i // self.row_beats
            slot = self.released[row - self.rows] if row >= self.rows else 0
            previous = max(self.arrival[i], previous + 1, slot)
            self.accepted.append(previous)

    def release(self, rows: range, cycle: int) -> None:
        for y in rows:
            self.released[self.frames * self.height + y] = cycle

    def finish(self) -> list[int]:
        self.fill(self.height * self.row_beats - 1)
        self.free, self.frames = self.accepted[-1] + 1, self.frames + 1
        accepted, self.accepted = self.accepted, []
        return accepted


class _ConvReference:
    """Rules 5-6 pixel by pixel, each group's window pushed through ``EngineModel.push`` (rules 1-4)."""

    def __init__(self, spec) -> None:
        self.g, self.engine = spec.conv, EngineModel(EngineTiming.of(spec))
        self.window, self.vector = spec.in_features * spec.groups, spec.in_features
        self.sources, self.buffer = window_sources(spec.conv), _RowBuffer(spec.conv)

    @property
    def next_ready(self) -> int:
        b = self.buffer
        row = b.frames * b.height
        return max(b.free, b.released[row - b.rows] if row >= b.rows else 0)

    def push(self, arrival):
        g, b = self.g, self.buffer
        b.arrival, outputs, lasts, pixel = [int(a) for a in arrival], [], [], 0
        for oy in range(g.out_height):
            for _ in range(g.out_width):
                sources = self.sources[pixel * self.window:(pixel + 1) * self.window]
                b.fill(max(0, *sources))
                offers = [b.accepted[e] + 1 if e >= 0 else b.accepted[0] + 1 for e in sources]
                for start in range(0, self.window, self.vector):
                    taken, beats, steps = self.engine.push(offers[start:start + self.vector])
                    outputs += beats
                    lasts += steps
                pixel += 1
            b.release(range(released_rows(g, oy), released_rows(g, oy + 1)), taken[-1] + 1)
        return b.finish(), outputs, lasts


def _geometry(rng: np.random.Generator, pool: bool = False) -> ConvGeometry | None:
    channels = int(rng.choice([1, 2, 3, 4, 6]))
    group = 1 if pool else int(rng.choice([g for g in (1, 2, channels) if channels % g == 0]))
    h, w = (int(v) for v in rng.integers(3, 9, size=2))
    kh, kw, sh, sw = (int(v) for v in rng.integers(1, 4, size=4))
    dh, dw = (1, 1) if pool else tuple(int(v) for v in rng.integers(1, 3, size=2))
    pads = tuple(int(v) for v in rng.integers(0, 2, size=4))
    oh = (h + pads[0] + pads[2] - (kh - 1) * dh - 1) // sh + 1
    ow = (w + pads[1] + pads[3] - (kw - 1) * dw - 1) // sw + 1
    if oh < 1 or ow < 1:
        return None
    return ConvGeometry(channels, h, w, (kh, kw), (sh, sw), pads, (dh, dw), group, oh, ow)


@pytest.mark.parametrize("seed", range(40))
def test_conv_model_equals_the_per_beat_rules(seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = _geometry(rng)
    while g is None:
        g = _geometry(rng)
    k = g.in_channels // g.group * g.kernel[0] * g.kernel[1]
    group_size = int(rng.choice([d for d in range(1, k + 1) if k % d == 0]))
    outputs = g.group * int(rng.integers(1, 4))
    spec = random_spec(kind="conv", out_features=outputs, layout=GroupLayout(k, group_size, int(rng.integers(1, group_size + 1))),
                       lanes=int(rng.integers(1, outputs + 1)), macs_per_lane=1, seed=seed, conv=g)
    beats = g.in_channels * g.in_height * g.in_width
    assert source_arrivals(ConvModel(spec), 8, beats, seed) == source_arrivals(_ConvReference(spec), 8, beats, seed)


@pytest.mark.parametrize("out_features, cycles_per_pass", [(12, 2), (13, 1), (7, 3), (6, 1)])
def test_passes_that_wait_for_a_result_bank(out_features: int, cycles_per_pass: int) -> None:
    """Short passes: rule 3 makes a pass's last step wait for its bank and rule 4 its outputs for the
    serialiser (``push_bounds``' general path, ``output_cycles`` carrying on across calls)."""
    timing = EngineTiming(in_beats=2, out_features=out_features, lanes=6, cycles_per_pass=cycles_per_pass)
    assert not waits_for_nothing(cycles_per_pass, timing.pass_beats)
    fast, slow = EngineModel(timing), EngineModel(timing)
    bounds = [0, 3, 40, 41, 41, 100, 101, 101]
    for batch in (bounds[:3], bounds[3:4], bounds[4:]):  # the serialiser's backlog carries over
        last, lasts = fast.push_bounds(batch)
        expected = [slow.push([b, b + 1]) for b in batch]  # offers whose max(offer[i] - i) is b
        assert lasts.reshape(-1).tolist() == [c for _, _, steps in expected for c in steps]
        assert fast.output_cycles(lasts).tolist() == [c for _, beats, _ in expected for c in beats]
        assert last == expected[-1][0][-1] and fast.next_ready == slow.next_ready


def test_a_pass_overlaps_the_previous_drain() -> None:
    """The point of two result banks: 8 rows a pass, one per beat, 2 cycles of compute; the lanes finish
    pass p + 1 into one bank while pass p drains from the other, and the beats leave back to back."""
    timing = EngineTiming(in_beats=2, out_features=32, lanes=8, cycles_per_pass=2)
    schedule = engine_schedule(timing, back_to_back(3, 2))
    flat = schedule.flat_outputs()
    assert flat == list(range(flat[0], flat[0] + len(flat)))  # no bubble across passes or vectors
    lasts = schedule.last_steps[0]
    assert lasts[:2] == [lasts[0], lasts[0] + 2]  # the first two passes never wait
    assert lasts[2] == flat[7]  # the third waits for pass 0's bank: its last beat leaves


@pytest.mark.parametrize("in_beats", [1, 3, 9, 40])
@pytest.mark.parametrize("lanes, out_pe", [(1, 1), (2, 1), (2, 2), (4, 1), (4, 2), (6, 3), (8, 1), (8, 4),
                                           (16, 4), (16, 16)])
def test_steady_state_interval_against_the_model(in_beats: int, lanes: int, out_pe: int) -> None:
    """``steady_state_interval`` (its closed form where it has one) against the event model run long
    enough to settle, on a grid of rows, cycles per pass and stream widths; the closed form
    ``max(K, passes × cycles_per_pass, out_beats)`` wherever every pass has at least 3 beats."""
    for out_features in range(1, 2 * lanes + 4):
        for cycles_per_pass in range(1, lanes // out_pe + 5):
            timing = EngineTiming(in_beats, out_features, lanes, cycles_per_pass, out_pe)
            last = [beats[-1] for beats in engine_schedule(timing, back_to_back(20, in_beats)).outputs]
            steps = [last[v + 1] - last[v] for v in range(12, 19)]
            assert steps[2:] == steps[:-2], timing  # periodic, every one or two vectors
            assert steady_state_interval(timing) == -(-(last[19] - last[17]) // 2), timing
            closed = steady_state_closed_form(timing)
            if timing.beats_of_pass(timing.passes - 1) >= 3:
                assert closed == max(in_beats, timing.compute_cycles, timing.out_beats), timing
            if closed is not None:
                assert len(set(steps)) == 1 and steps[0] == closed, timing


@pytest.mark.parametrize("out_pe, cycles_per_pass", [(2, 9), (2, 2), (3, 1), (6, 1), (6, 5)])
def test_wide_output_beats_in_both_paths(out_pe: int, cycles_per_pass: int) -> None:
    """``out_pe`` outputs per beat: a pass of n rows drains in ceil(n / out_pe) beats (rules 3-4 count
    beats), the same in ``push`` and in ``push_bounds`` with and without waiting passes."""
    timing = EngineTiming(in_beats=3, out_features=14, lanes=6, cycles_per_pass=cycles_per_pass, out_pe=out_pe)
    assert timing.out_beats == -(-14 // out_pe) and timing.beats_of_pass(2) == -(-2 // out_pe)
    fast, slow = EngineModel(timing), EngineModel(timing)
    bounds = [0, 1, 30, 31, 80]
    last, lasts = fast.push_bounds(bounds)
    expected = [slow.push([b, b + 1, b + 2]) for b in bounds]
    assert lasts.reshape(-1).tolist() == [c for _, _, steps in expected for c in steps]
    outputs = fast.output_cycles(lasts).tolist()
    assert outputs == [c for _, beats, _ in expected for c in beats]
    assert len(outputs) == len(bounds) * timing.out_beats
    assert last == expected[-1][0][-1] and fast.next_ready == slow.next_ready


@pytest.mark.parametrize("seed", range(20))
def test_pool_model_equals_the_per_read_rules(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    g = _geometry(rng, pool=True)
    while g is None:
        g = _geometry(rng, pool=True)
    model, buffer, reader_free = PoolModel(g), _RowBuffer(g), 0
    rows = len(model.sources) // g.out_height
    for v in range(4):
        arrival = np.cumsum(rng.integers(0, 3, size=g.in_channels * g.in_height * g.in_width)).tolist()
        buffer.arrival, steps, step = arrival, [], reader_free - 1
        for oy in range(g.out_height):
            for e in model.sources[oy * rows:(oy + 1) * rows]:
                buffer.fill(max(e, 0))
                step = max(step + 1, buffer.accepted[max(e, 0)] + 1)
                steps.append(step)
            buffer.release(range(released_rows(g, oy), released_rows(g, oy + 1)), step + 1)
        reader_free = step + 1
        expected = (buffer.finish(), [steps[i] + 1 for i in model.ends], steps)
        assert model.push(arrival) == expected, v


@pytest.mark.parametrize("kind", ["fork", "add", "concat"])
def test_merge_model_equals_the_per_step_rule(kind: str) -> None:
    rng = np.random.default_rng(7)
    in_beats = {"fork": (30,), "add": (30, 30), "concat": (20, 30)}[kind]
    model = MergeModel(kind, in_beats, fanout=2 if kind == "fork" else 1, chunks=(2, 3) if kind == "concat" else ())
    free = 0
    for _ in range(3):
        arrivals = [np.sort(rng.integers(free, free + 90, size=n)).tolist() for n in in_beats]
        taken, outs, step = [[0] * n for n in in_beats], [], free - 1
        for reads in model.reads:
            step = max(step + 1, *(arrivals[p][e] for p, e in reads))
            for p, e in reads:
                taken[p][e] = step
            outs.append(step + model.latency)
        free = step + 1
        assert model.push_ports(arrivals) == (taken, [outs] * model.fanout)


def test_in_order_and_fifo_depth_closed_forms() -> None:
    rng = np.random.default_rng(3)
    for n in (0, 1, 5, 23, 24, 25, 300):
        offers = rng.integers(0, 2 * n + 2, size=n).tolist()
        first = int(rng.integers(0, 50))
        assert in_order(offers, first) == _in_order_loop(offers, first)
        assert all(type(c) is int for c in in_order(offers, first))
    for _ in range(50):
        writes = np.sort(rng.integers(0, 400, size=int(rng.integers(0, 60)))).tolist()
        takes = np.sort(rng.integers(0, 400, size=int(rng.integers(0, 60)))).tolist()
        need, taken = 0, 0
        for index, cycle in enumerate(writes):
            while taken < len(takes) and takes[taken] < cycle:
                taken += 1
            need = max(need, index - taken + 1)
        assert fifo_depth_needed(writes, takes) == need
