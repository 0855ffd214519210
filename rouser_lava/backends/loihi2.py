"""``rouser-run --backend loihi2``: a netx network on a Loihi 2 board through lava-loihi,
or (``--rehearse``) the same process graph on Lava's CPU simulator.

UNVERIFIED on a board: no board and no lava-loihi were available where this was
written. What runs before anything is submitted, and the rehearsal, are verified here:

- the design rules and the resource map (:mod:`rouser_lava.deploy.design_rules`,
  :mod:`rouser_lava.deploy.resource_map`) run first;
- the samples run back to back in the stream layout of
  :mod:`rouser_lava.backends.stream` (netx ``reset_interval``, a power of 2, and
  ``reset_offset``; ``LIFReset``), streamed from a file in chunks and read out per
  chunk (:mod:`rouser_lava.backends.board_graph`, one function for the board and the
  rehearsal);
- the I/O follows public code, with each fact and its source in the hardware config
  (``hw_configs/loihi2-*.json``, ``run``): ``PyToNxAdapter`` for flat spike input (lava-dl
  ``tutorials/lava/lib/dl/netx/{oxford,mnist}/utils.py``), ``PyToN3ConvAdapter`` for conv
  input with its one-step hop built into ``reset_offset`` (lava-dl
  ``tests/lava/lib/dl/netx/test_hdf5_nx.py``, ``test_pilotnet_lif_spike_input``), the
  input layer's ``bias_mant`` for image input (the same file's ``test_tinynet`` and
  ``test_pilotnet_lif``), ``NxToPyAdapter`` out, read with 0 extra steps
  (``test_tinynet`` reads the same window as on the CPU);
- the host: ``SLURM``, ``PARTITION``, ``LOIHI_GEN`` from the config, the user's
  environment first (:mod:`rouser_lava.backends.board_host`), never Lava's ``sinfo``
  parser (lava#753).

Without lava-loihi (``lava.utils.loihi.is_installed()`` is checked before anything is
built: Lava's own failure is a ``NameError`` deep in its compiler), the run fails with
one line saying what is needed and which command rehearses the same run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..deploy.design_rules import check_design_rules
from ..deploy.hw_config import HwConfig
from ..deploy.resource_map import ResourceMap, map_resources
from ..errors import UserError, param
from ..netx.file import NetxFile
from .run import BatchOutput
from .stream import StreamLayout, StreamSpec, refractory_warnings

log = logging.getLogger(__name__)

CHUNK_SAMPLES = 64  # samples per run call: the host holds one chunk's output ring


@dataclass(frozen=True)
class BoardPlan:
    """Everything a board run would submit, checked: ``--dry-run`` prints it."""

    netx: NetxFile  # read once, by the caller
    hw: HwConfig
    resources: ResourceMap
    layout: StreamLayout  # the source's: samples sent from step o + 1 on
    samples: int
    input_kind: str  # 'flat' or 'conv' spikes, or 'bias' images
    input_shape: tuple[int, ...]  # Lava order (netx's net.inp.shape)
    output_shape: tuple[int, ...]
    depth: int  # spiking layers
    chunk: int  # samples per run call
    timeout_s: float
    membrane: bool  # the last layer is a membrane readout: its v is read per window

    @property
    def net_path(self) -> str:
        return self.netx.path

    @property
    def input_adapter(self) -> str:
        """lava-loihi's adapter for this input (the config's, by input kind)."""
        return str(self.hw.run[f"{self.input_kind}_input_adapter"]) \
            if self.input_kind != "bias" else "none: the input layer's bias_mant"

    @property
    def output_adapter(self) -> str:
        return str(self.hw.run["output_adapter"])

    @property
    def state_reader(self) -> str:
        """lava-loihi's ``embedded_io.state`` process that reads a membrane readout."""
        return str(self.hw.run["state_reader"])

    @property
    def state_read_bits(self) -> int:
        """Bits of what the state reader sends (two's complement)."""
        return int(self.hw.run["state_read_bits"])

    @property
    def hop(self) -> int:
        """Steps the input adapter adds (built into the network's reset offset)."""
        return 0 if self.input_kind == "bias" else \
            int(self.hw.run[f"{self.input_kind}_input_hop_steps"])

    @property
    def latency(self) -> int:
        """Steps the output adapter adds."""
        return int(self.hw.run["output_latency_steps"])

    @property
    def net_layout(self) -> StreamLayout:
        """The network's layout: reset offset ``o + hop``."""
        return StreamLayout(self.layout.steps, self.layout.reset_interval,
                            self.layout.reset_offset + self.hop)

    @property
    def read_layout(self) -> StreamLayout:
        """Where outputs are read: the network's layout, ``latency`` steps later."""
        net = self.net_layout
        return StreamLayout(net.steps, net.reset_interval, net.reset_offset + self.latency)

    @property
    def run_steps(self) -> int:
        """Steps submitted in all."""
        return self.read_layout.total_steps(self.samples)

    def timeout_advice(self, board: bool) -> str:
        """What to check when a run gives no result within its limit."""
        if not board:
            return f"{param('timeout')} sets the limit"
        return (f"no result came from the board: check `rouser-map {self.net_path} "
                f"--hw-config {self.hw.path}` (a network too large for the chip can hang "
                f"instead of failing) and `sinfo` (a busy board keeps the run queued); "
                f"{param('timeout')} sets the limit")

    def describe(self) -> str:
        """The resource map and the exact run configuration."""
        hw, net = self.hw, self.net_layout
        if self.input_kind == "bias":
            feed = ("input: one bias image per sample -> net.in_layer.neuron.bias_mant "
                    "(init, then set before each sample's window; one sample per run call)")
        else:
            feed = (f"input: MemSource(shape={self.input_shape}, one sample per "
                    f"{net.reset_interval} steps from a memory-mapped file) -> "
                    f"embedded_io.spike.{self.input_adapter}(shape={self.input_shape}) -> "
                    f"the network ({self.hop} step(s) in the adapter, built into "
                    f"reset_offset)")
        readout = ""
        if self.membrane:
            phase = (net.reset_offset + net.steps - 1) % net.reset_interval
            readout = (f"\n  readout: net.out_layer.neuron.v -> embedded_io.state."
                       f"{self.state_reader}(shape={self.output_shape}, interval="
                       f"{net.reset_interval}, offset={phase}) -> MemSink (v after each "
                       f"sample's last step, {self.state_read_bits}-bit two's complement)")
        return "\n".join([
            self.resources.table(), self.resources.summary(),
            f"design rules: passed on {hw.name}",
            "run configuration:",
            f"  host: SLURM=1, PARTITION={hw.partition}, LOIHI_GEN={hw.loihi_gen}"
            + (f", BOARD={hw.board}" if hw.board else "")
            + " (values already in the environment win; checked against `sinfo`)",
            f"  network: netx.hdf5.Network(net_config={self.net_path!r}, "
            f"reset_interval={net.reset_interval}, reset_offset={net.reset_offset})",
            f"  {feed}",
            f"  output: net.out -> embedded_io.spike.{self.output_adapter}(shape="
            f"{self.output_shape}, num_message_bits=0) -> MemSink ring (read "
            f"{self.latency} step(s) later)" + readout,
            f"  run: {self.samples} samples in run calls of "
            f"{1 if self.input_kind == 'bias' else self.chunk} "
            f"(net.run(RunSteps(...), Loihi2HwCfg())), {self.run_steps} steps in all, "
            f"time limit {self.timeout_s:.0f} s",
            f"  {self.layout.describe(self.samples)}"])


def _input_kind(netx: NetxFile, bias: bool) -> str:
    """'bias' (images into the input layer's bias), 'conv' (3-D spikes into a conv
    layer or an input layer with neurons) or 'flat'."""
    if bias:
        return "bias"
    first = next(la for la in netx.summary.layers if la.kind != "input" or la.neurons)
    takes_3d = first.kind == "conv" or first.kind == "input"  # the latter with neurons
    shape = netx.summary.input_shape
    return "conv" if takes_3d and shape is not None and len(shape) == 3 else "flat"


def plan_run(netx: NetxFile, hw: HwConfig, samples: int, steps: int,
             stream: StreamSpec | None = None, timeout: float | None = None,
             bias: bool = False, chunk: int | None = None) -> BoardPlan:
    """Check the netx file ``netx`` against ``hw`` and lay out ``samples`` of ``steps``
    steps (spikes, or bias images when ``bias``), ``chunk`` samples per run call.

    Raises DesignRuleError (every broken rule, the chips needed included) or UserError.
    """
    if hw.target != "loihi2":
        raise UserError(f"{hw.path}: is a {hw.target} config; the loihi2 backend needs a "
                        f"Loihi 2 board config (hw_configs/loihi2-*.json)")
    net_path, summary = netx.path, netx.summary
    spiking = summary.spiking  # an input layer with neurons resets first, as in netx
    depth = len(spiking)
    for line in refractory_warnings([la.ref_delay for la in spiking]):
        log.warning("%s", line)
    layout = (stream or StreamSpec()).layout(steps, depth)
    check_design_rules(net_path, hw, reset_interval=layout.reset_interval)
    if summary.input_shape is None:
        raise UserError(f"{net_path}: cannot tell the input shape (no input layer)")
    last = summary.layers[-1]
    plan = BoardPlan(netx, hw, map_resources(summary, hw), layout, samples,
                     _input_kind(netx, bias), tuple(reversed(summary.input_shape)),
                     tuple(reversed(last.shape)), depth, chunk or CHUNK_SAMPLES,
                     float(timeout or hw.run["timeout_s"]), summary.membrane_readout)
    if plan.latency and bias:
        raise UserError(f"{hw.path}: output_latency_steps {plan.latency} with bias images: "
                        f"the bias is set where a window ends, which then differs from "
                        f"where outputs are read; not supported")
    late = plan.hop + plan.latency
    if layout.reset_offset + late >= layout.reset_interval:
        raise UserError(f"{param('reset_offset')} {layout.reset_offset}: with the "
                        f"adapters' {late} step(s) it must stay below the reset interval "
                        f"{layout.reset_interval}")
    return plan


def require_lava_loihi(net_path: str) -> None:
    """Fail with what is needed unless lava-loihi is installed."""
    from lava.utils import loihi

    if not loihi.is_installed():
        raise UserError(
            f"{net_path}: the loihi2 backend needs lava-loihi, Intel's Lava extension "
            f"for Loihi 2 (INRC members), and access to a board; this install has "
            f"none. The same run rehearses on the CPU simulator: "
            f"rouser-run {net_path} --backend loihi2 --rehearse")


def run_on_board(plan: BoardPlan, x: np.ndarray, bias: np.ndarray | None = None,
                 timeout: float | None = None, record_state: bool = False,
                 state_steps: tuple[int, ...] | None = None) -> BatchOutput:
    """What :func:`.board_graph.run_graph` returns for ``x`` (uint8 ``(N, *input_shape,
    T)``, torch order) or ``bias`` images, on the board. UNVERIFIED (see module doc)."""
    from .board_graph import run_graph
    from .board_host import select_host

    require_lava_loihi(plan.net_path)
    hw = plan.hw
    assert hw.partition is not None and hw.loihi_gen is not None  # loihi2 configs have them
    choice = select_host(hw.partition, hw.loihi_gen, hw.board)
    log.info("Loihi 2 host: %s", choice.describe())
    return run_graph(plan, x, bias, board=True, timeout=timeout, record_state=record_state,
                     state_steps=state_steps)


def rehearse(plan: BoardPlan, x: np.ndarray, bias: np.ndarray | None = None,
             timeout: float | None = None, progress: bool = False,
             record_state: bool = False,
             state_steps: tuple[int, ...] | None = None) -> BatchOutput:
    """The board run of ``plan`` on Lava's CPU simulator, with CPU stand-ins for
    lava-loihi's adapters and state reader: what :func:`run_on_board` returns."""
    from .board_graph import run_graph

    return run_graph(plan, x, bias, board=False, timeout=timeout, progress=progress,
                     record_state=record_state, state_steps=state_steps)
