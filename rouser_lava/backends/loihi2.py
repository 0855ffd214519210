"""``rouser-run --backend loihi2``: a netx network on a Loihi 2 board through lava-loihi.

UNVERIFIED: no board and no lava-loihi were available where this was written. The
module is kept small; everything it depends on is verified on the simulator:

- the design rules and the resource map (:mod:`rouser_lava.deploy.design_rules`,
  :mod:`rouser_lava.deploy.resource_map`) run first, so a network too large for the
  chip fails here instead of hanging on the board (lava#826);
- the samples run back to back in the stream layout of
  :mod:`rouser_lava.backends.stream` (netx ``reset_interval``, a power of 2, and
  ``reset_offset``; ``LIFReset``), the layout ``rouser-run --stream reset-interval``
  runs on Lava's CPU simulator and in the emulator, where it equals per-sample runs
  spike for spike;
- what differs on the board is only the I/O and the run config, written after
  lava-dl's netx hardware tests (``tests/lava/lib/dl/netx/test_hdf5_nx.py``): a
  Python ``RingBuffer`` source -> ``embedded_io.spike.PyToNxAdapter`` -> ``net.inp``;
  ``net.out`` -> ``embedded_io.spike.NxToPyAdapter`` -> a ``RingBuffer`` sink read
  before ``stop()``; ``Loihi2HwCfg()``; the host from ``lava.utils.loihi``
  (``use_slurm_host(partition, board, loihi_gen)``). Outputs are read
  ``output_latency_extra`` steps (the config's calibration constant) later than on
  the simulator. Only the output layer's spikes come back.

Without lava-loihi (``lava.utils.loihi.is_installed()`` is checked before anything is
built: Lava's own failure is a ``NameError`` deep in its compiler), the run fails with
one line saying what is needed and which simulator command runs the same network.
"""

from __future__ import annotations

import _thread
import logging
import threading
from dataclasses import dataclass

import numpy as np

from ..deploy.design_rules import check_design_rules
from ..deploy.hw_config import HwConfig
from ..deploy.resource_map import ResourceMap, map_resources
from ..errors import UserError
from ..netx.file import NetxFile
from .stream import StreamLayout, StreamSpec, refractory_warnings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BoardPlan:
    """Everything a board run would submit, checked: ``--dry-run`` prints it."""

    net_path: str
    hw: HwConfig
    resources: ResourceMap
    layout: StreamLayout
    samples: int
    input_shape: tuple[int, ...]  # Lava order (netx's net.inp.shape)
    output_shape: tuple[int, ...]
    depth: int  # spiking layers
    latency: int  # extra steps of the board's output path
    timeout_s: float

    @property
    def run_steps(self) -> int:
        """Steps submitted: the stream plus the output latency."""
        return self.layout.total_steps(self.samples) + self.latency

    def describe(self) -> str:
        """The resource map and the exact run configuration."""
        hw = self.hw
        host = (f"lava.utils.loihi.use_slurm_host(partition={hw.partition!r}, "
                f"board={hw.board!r}, loihi_gen=ChipGeneration.{hw.loihi_gen})")
        return "\n".join([
            self.resources.table(), self.resources.summary(),
            f"design rules: passed on {hw.name}",
            "run configuration:",
            f"  host: {host}",
            f"  network: netx.hdf5.Network(net_config={self.net_path!r}, "
            f"reset_interval={self.layout.reset_interval}, "
            f"reset_offset={self.layout.reset_offset})",
            f"  input: RingBuffer(data int32 {(*self.input_shape, self.run_steps)}) -> "
            f"embedded_io.spike.PyToNxAdapter(shape={self.input_shape}) -> net.inp",
            f"  output: net.out -> embedded_io.spike.NxToPyAdapter(shape="
            f"{self.output_shape}, num_message_bits=0) -> RingBuffer sink "
            f"(buffer={self.run_steps})",
            f"  run: net.run(RunSteps({self.run_steps}), Loihi2HwCfg()), time limit "
            f"{self.timeout_s:.0f} s",
            f"  {self.layout.describe(self.samples)}; outputs read "
            f"{self.latency} step(s) later than on the simulator"])


def plan_run(netx: NetxFile, hw: HwConfig, samples: int, steps: int,
             stream: StreamSpec | None = None, timeout: float | None = None) -> BoardPlan:
    """Check the netx file ``netx`` against ``hw`` and lay out ``samples`` of ``steps``
    steps.

    Raises DesignRuleError (every broken rule, the chips needed included) or UserError.
    """
    if hw.target != "loihi2":
        raise UserError(f"{hw.path}: is a {hw.target} config; the loihi2 backend needs a "
                        f"Loihi 2 board config (hw_configs/loihi2-*.json)")
    net_path, summary = netx.path, netx.summary
    if summary.membrane_readout:
        raise UserError(f"{net_path}: its last layer is a membrane readout (v read after "
                        f"each sample); the board backend reads spikes only")
    spiking = summary.spiking  # an input layer with neurons resets first, as in netx
    depth = len(spiking)
    for line in refractory_warnings([la.ref_delay for la in spiking]):
        log.warning("%s", line)
    layout = (stream or StreamSpec()).layout(steps, depth)
    check_design_rules(net_path, hw, reset_interval=layout.reset_interval)
    if summary.input_shape is None:
        raise UserError(f"{net_path}: cannot tell the input shape (no input layer)")
    last = summary.layers[-1]
    return BoardPlan(net_path, hw, map_resources(summary, hw), layout, samples,
                     tuple(reversed(summary.input_shape)), tuple(reversed(last.shape)),
                     depth, int(hw.run["output_latency_extra"]),
                     float(timeout or hw.run["timeout_s"]))


def require_lava_loihi(net_path: str) -> None:
    """Fail with what is needed unless lava-loihi is installed."""
    from lava.utils import loihi

    if not loihi.is_installed():
        raise UserError(
            f"{net_path}: the loihi2 backend needs lava-loihi, Intel's Lava extension "
            f"for Loihi 2 (INRC members), and access to a board; this install has "
            f"none. The same network and stream layout run on the CPU simulator: "
            f"rouser-run {net_path} --backend lava --stream reset-interval")


def run_on_board(plan: BoardPlan, x: np.ndarray) -> list[np.ndarray]:
    """Output spikes ``[(N, *shape, T)]`` (torch order) of ``x`` (uint8 ``(N,
    *input_shape, T)``, torch order) on the board. UNVERIFIED (see module doc)."""
    require_lava_loihi(plan.net_path)
    from lava.lib.dl.netx import hdf5
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg
    from lava.proc import embedded_io as eio
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.utils import loihi

    hw, layout, n = plan.hw, plan.layout, len(x)
    loihi.use_slurm_host(partition=hw.partition, board=hw.board,
                         loihi_gen=loihi.ChipGeneration(hw.loihi_gen))
    net = hdf5.Network(net_config=plan.net_path, reset_interval=layout.reset_interval,
                       reset_offset=layout.reset_offset)
    flat = x.reshape(n, -1, x.shape[-1]) if len(plan.input_shape) == 1 else \
        np.transpose(x, (0, 3, 2, 1, 4))  # torch (C, H, W) -> Lava (W, H, C)
    data = layout.pack(flat.astype(np.int32))
    data = np.concatenate((data, np.zeros((*data.shape[:-1], plan.latency), np.int32)), -1)
    source, sink = Source(data=data), Sink(shape=plan.output_shape, buffer=plan.run_steps)
    into, out_of = (eio.spike.PyToNxAdapter(shape=plan.input_shape),
                    eio.spike.NxToPyAdapter(shape=plan.output_shape, num_message_bits=0))
    source.s_out.connect(into.inp)
    into.out.connect(net.inp)
    net.out.connect(out_of.inp)
    out_of.out.connect(sink.a_in)
    timer = threading.Timer(plan.timeout_s, _thread.interrupt_main)
    timer.start()
    try:
        net.run(condition=RunSteps(num_steps=plan.run_steps), run_cfg=Loihi2HwCfg())
        raw = sink.data.get()[..., plan.latency:]
        net.stop()
    except KeyboardInterrupt:
        if timer.is_alive():  # a real Ctrl-C
            raise
        raise UserError(f"{plan.net_path}: no result from the board after "
                        f"{plan.timeout_s:.0f} s; a network too large for the chip hangs "
                        f"instead of failing (lava#826): check `rouser-map`, or the board "
                        f"is busy or unreachable") from None
    finally:
        timer.cancel()
    out = layout.unpack(raw, n, layer=plan.depth - 1)
    return [out if out.ndim == 3 else np.transpose(out, (0, 3, 2, 1, 4))]
