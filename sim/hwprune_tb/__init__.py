"""hwprune's cocotb testbench library (kept apart as cocotb's examples do):

* ``streams``: ``StreamDriver`` (valid/ready source with scheduled arrivals) and ``StreamMonitor``
  (sink recording ``(cycle, value)`` of every beat, with an always-ready or random-ready policy);
* ``checks``: ``Scoreboard`` (in-order values against the integer reference) and ``CycleChecker``
  (beat cycles against ``hwprune.lower.cycles``);
* ``stream_tb``: the cocotb test module run by ``hwprune.sim.rtl_runner`` on a case file.
* ``network_tb``: the cocotb test module of a network top (AXI-Stream with ``tlast``), run by
  ``hwprune.sim.network`` on a network case file.

No module here is named ``test_*``: pytest must not collect them (they only run inside a simulator).
"""
