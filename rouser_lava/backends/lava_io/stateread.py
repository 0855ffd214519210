"""Reads a neuron state (a membrane readout's ``v``) once per window: the CPU stand-in
for lava-loihi's ``embedded_io.state.Read``.

Copied in behaviour from lava-dl's ``tutorials/lava/lib/dl/netx/pilotnet_snn/utils.py``
(``VoltageReader``, ``PyVoltageReaderModel``), which the PilotNet SNN notebook
(``run.ipynb`` in the same folder) uses on the CPU where it uses
``lava.proc.embedded_io.state.Read`` on a board, with the same ``interval`` and
``offset`` and the same read-out step on both backends: at step ``t`` (1-based) with
``(t - 1) % interval == offset`` the state is read after the step (management phase,
through a ``RefPort``); it is sent on ``out`` at the step after, when ``(t - 1) %
interval == (offset + 1) % interval``, and at no other step.
"""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyOutPort, PyRefPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import OutPort, RefPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class StateReader(AbstractProcess):
    """Sends the Var it is connected to (``shape``) once per ``interval`` steps."""

    def __init__(self, *, shape: tuple, interval: int, offset: int) -> None:
        super().__init__(shape=shape, interval=interval, offset=offset % interval)
        self.ref = RefPort(shape=shape)
        self.out = OutPort(shape=shape)

    def connect_var(self, var: Var) -> None:
        """Read ``var`` (of this reader's shape)."""
        self.ref.connect_var(var)


@implements(proc=StateReader, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "floating_pt")
class PyStateReaderModel(PyLoihiProcessModel):
    ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32)
    out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.interval, self.offset = proc_params["interval"], proc_params["offset"]
        self.data = np.zeros(proc_params["shape"], np.int32)

    def run_spk(self) -> None:
        if (self.time_step - 1) % self.interval == (self.offset + 1) % self.interval:
            self.out.send(self.data)

    def post_guard(self) -> bool:
        return (self.time_step - 1) % self.interval == self.offset

    def run_post_mgmt(self) -> None:
        self.data = self.ref.read().astype(np.int32)
