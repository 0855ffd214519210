"""Fixed-point model of Lava's ``LIFRefractory``: Lava's bit-accurate LIF plus the
refractory rule of Lava's own floating-point model (``PyLifRefractoryModelFloat``,
lava-nc 0.10.0, ``proc/lif/models.py``).

Per step ``t`` (Lava's time starts at 1): ``u`` integrates as in ``LIF``; ``v``
integrates only where ``refractory_period_end < t`` and is held elsewhere; spike
where ``v > vth << 6``; at a spike ``v = 0`` and ``refractory_period_end = t +
refractory_period``. So a neuron that spikes at ``t`` holds ``v = 0`` (and cannot
spike, ``vth >= 0``) for steps ``t + 1 .. t + refractory_period``.
``refractory_period_end`` is absolute, as in Lava's model: setting it to 0 ends
every refractory period at any later step, which is how a runner clears it between
samples. Bind it with ``Loihi2SimCfg(select_tag='fixed_pt',
exception_proc_model_map={LIFRefractory: PyLifRefractoryModelFixed})``.
"""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.ports import PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.lif.models import AbstractPyLifModelFixed
from lava.proc.lif.process import LIFRefractory


@implements(proc=LIFRefractory, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyLifRefractoryModelFixed(AbstractPyLifModelFixed):
    """``LIFRefractory`` in Loihi's fixed point (threshold and spikes as in Lava's
    ``PyLifModelBitAcc``, which it cannot subclass: that one implements ``LIF``)."""

    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    vth: int = LavaPyType(int, np.int32, precision=17)
    refractory_period_end: np.ndarray = LavaPyType(np.ndarray, np.int32)

    def __init__(self, proc_params):
        super().__init__(proc_params)
        self.refractory_period = proc_params["refractory_period"]
        self.effective_vth = 0

    def scale_threshold(self):
        """``vth << 6``, as Loihi aligns it with the 24-bit state."""
        self.effective_vth = np.left_shift(self.vth, self.vth_shift)
        self.isthrscaled = True

    def spiking_activation(self):
        """Spike where ``v`` exceeds the threshold (strictly)."""
        return self.v > self.effective_vth

    def subthr_dynamics(self, activation_in: np.ndarray):
        """Lava's fixed-point ``u`` and ``v`` updates, then ``v`` restored where the
        neuron is refractory."""
        held = self.v.copy()
        super().subthr_dynamics(activation_in)
        refractory = self.refractory_period_end >= self.time_step
        self.v[refractory] = held[refractory]

    def reset_voltage(self, spike_vector: np.ndarray):
        """``v = 0`` and the end of the refractory period set where a neuron spiked."""
        self.refractory_period_end[spike_vector] = self.time_step + self.refractory_period
        super().reset_voltage(spike_vector)
