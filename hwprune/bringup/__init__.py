"""Board bring-up material for a compiled design (``build/<…>/board/``): a Vivado block design
(Zynq PS + AXI DMA + the generated accelerator), a Vitis HLS entry point, a PYNQ-style driver with a
board and a simulation transport, and a notebook that checks the golden vectors bit for bit."""

from hwprune.bringup.design import DesignFacts, StreamFacts, gather_facts
from hwprune.bringup.writer import BOARD_DIR, notebook_cells, templates_dir, write_bringup

__all__ = ["DesignFacts", "StreamFacts", "gather_facts", "BOARD_DIR", "notebook_cells", "templates_dir",
           "write_bringup"]
