"""A Lava sink that writes what it receives into a memory-mapped file.

Reading Lava's own ``sink.RingBuffer`` back with ``Var.get()`` costs about 27 us per
element (measured), which dominated the run time of a whole test set. This process
receives at the steps ``t`` (1-based) with ``(t - 1) % interval == offset`` (every step
by default) and writes what it got into row ``((t - 1) // interval) % buffer`` of an
``np.memmap`` of ``dtype`` and shape ``(buffer, *shape)`` that the caller created; the
host reads the file directly. Binary spikes are int8; a state read once per window
(:mod:`.stateread`) is int32.
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
    """Records ``a_in`` (``shape``) into the file at ``path``."""

    def __init__(self, *, shape: tuple, buffer: int, path: str, dtype: str = "int8",
                 interval: int = 1, offset: int = 0) -> None:
        super().__init__(shape=shape, buffer=buffer, path=path, dtype=dtype,
                         interval=interval, offset=offset % interval)
        self.a_in = InPort(shape=shape)


@implements(proc=MemSink, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "floating_pt")
class PyMemSinkModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.buffer = proc_params["buffer"]
        self.interval, self.offset = proc_params["interval"], proc_params["offset"]
        self.mm = np.memmap(proc_params["path"], dtype=proc_params["dtype"], mode="r+",
                            shape=(self.buffer, *proc_params["shape"]))

    def run_spk(self) -> None:
        i = self.time_step - 1
        if i % self.interval == self.offset:
            self.mm[(i // self.interval) % self.buffer] = self.a_in.recv()
