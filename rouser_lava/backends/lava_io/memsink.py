"""A Lava sink that writes each step's spikes into a memory-mapped file.

Reading Lava's own ``sink.RingBuffer`` back with ``Var.get()`` costs about 27 us per
element (measured), which dominated the run time of a whole test set. This process
writes step ``t`` into row ``(t - 1) % buffer`` of an int8 ``np.memmap`` of shape
``(buffer, *shape)`` that the caller created; the host reads the file directly.
"""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class MemSink(AbstractProcess):
    """Records ``a_in`` (binary spikes of ``shape``) into the file at ``path``."""

    def __init__(self, *, shape: tuple, buffer: int, path: str) -> None:
        super().__init__(shape=shape, buffer=buffer, path=path)
        self.a_in = InPort(shape=shape)


@implements(proc=MemSink, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "floating_pt")
class PyMemSinkModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.buffer = proc_params["buffer"]
        self.mm = np.memmap(proc_params["path"], dtype=np.int8, mode="r+",
                            shape=(self.buffer, *proc_params["shape"]))

    def run_spk(self) -> None:
        self.mm[(self.time_step - 1) % self.buffer] = self.a_in.recv()
