"""A Lava source that streams samples from a ``.npy`` file, one time step at a time.

Lava's ``source.RingBuffer`` holds its whole run in one int32 array (the whole test set,
in the stream layout of a board: 47 GB for N-MNIST's test set at T = 300, R = 512). This
process instead reads each step's column from a memory-mapped uint8 ``.npy`` of samples
``(N, *shape, T)`` (Lava's order), as lava-dl's tutorials feed one sample per reset
interval from a process (``SpikeDataloader``, ``InpImgToSpk``); the host keeps only the
pages it reads. Step ``t`` (1-based) sends stream column ``i = t - 1``: zero for
``i < offset``, else column ``c = (i - offset) % interval`` of sample ``(i - offset) //
interval``, zero for ``c >= T`` (padding) and after the last sample. The file is opened
at the first step.
"""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol


class MemSource(AbstractProcess):
    """Sends the samples in the file at ``path`` on ``s_out`` (``shape``), one per
    ``interval`` steps after ``offset`` steps."""

    def __init__(self, *, shape: tuple, path: str, interval: int, offset: int) -> None:
        super().__init__(shape=shape, path=path, interval=interval, offset=offset)
        self.s_out = OutPort(shape=shape)


@implements(proc=MemSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "floating_pt")
class PyMemSourceModel(PyLoihiProcessModel):
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.path = proc_params["path"]
        self.interval, self.offset = proc_params["interval"], proc_params["offset"]
        self.zeros = np.zeros(proc_params["shape"], np.int32)
        self.samples = None

    def run_spk(self) -> None:
        if self.samples is None:
            self.samples = np.load(self.path, mmap_mode="r")
        i = self.time_step - 1 - self.offset
        j, c = divmod(i, self.interval)
        if i < 0 or j >= len(self.samples) or c >= self.samples.shape[-1]:
            self.s_out.send(self.zeros)
        else:
            self.s_out.send(self.samples[j, ..., c].astype(np.int32))
