"""A one-step delay: the CPU stand-in for lava-loihi's ``PyToN3ConvAdapter``.

Copied in behaviour from lava-dl's ``tutorials/lava/lib/dl/netx/pilotnet_snn/utils.py``
(``Buffer``, ``PyBufferModel``), which stands in for that adapter's one-step hop on the
CPU: each step sends what it received the step before.
"""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class Buffer(AbstractProcess):
    """Sends on ``out`` what ``inp`` received one step earlier (``shape``)."""

    def __init__(self, *, shape: tuple) -> None:
        super().__init__(shape=shape)
        self.inp = InPort(shape=shape)
        self.out = OutPort(shape=shape)


@implements(proc=Buffer, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "floating_pt")
class PyBufferModel(PyLoihiProcessModel):
    inp: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)
    out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.data = np.zeros(proc_params["shape"], np.int32)

    def run_spk(self) -> None:
        self.out.send(self.data)
        self.data = self.inp.recv()
