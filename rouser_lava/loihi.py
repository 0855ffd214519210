"""Loihi 2's integer format, as Lava's ``fixed_pt`` CUBA LIF and netx hold it: one home
for every scale, range and wrap that training, quantization, the netx reader and the
emulator share.

Sources (lava-nc 0.10.0, lava-dl 0.6.0):

- ``lava/proc/lif/models.py`` (``AbstractPyLifModelFixed``): decays are 12-bit
  (``x * (4096 - d) >> 12``, rounding toward zero); ``u`` and ``v`` are signed 24-bit
  (``uv_bitwidth`` 24, ``max_uv_val = 2**23``): ``u`` wraps (``u > 2**23 -> u -
  2**24``, ``u <= -2**23 -> u + 2**24``), ``v`` clips to ``+-(2**23 - 1)``; the
  threshold is compared as ``vth << 6`` (``vth_mant`` 17 bits unsigned); ``bias_mant``
  is int16.
- ``lava/lib/dl/netx/blocks/process.py``: ``DelayDense(max_delay=62)``.
- ``lava/lib/dl/slayer/neuron/cuba.py``: ``s_scale = 1 << 12`` (1.0 of state is 4096
  integer units) and ``vThMant = threshold * 64``.

Pure constants and functions on integer arrays; nothing here imports Lava or torch.
The functions work on NumPy arrays and torch tensors alike (int64).
"""

from __future__ import annotations

STATE_SCALE = 1 << 12  # slayer s_scale: 1.0 of state == 4096 integer units
TH_SCALE = 1 << 6  # vThMant = threshold * 64; Loihi compares v > vThMant << 6
TH_MANT_MAX = (1 << 17) - 1  # vth is a 17-bit unsigned mantissa on Loihi 2
NO_SPIKE_VTH = (1 << 18) - 1  # lava-dl's Affine block exports this vThMant: never reached
UV_MAX = 1 << 23  # u and v are signed 24-bit: max_uv_val in Lava's fixed_pt LIF
DECAY_MAX = 4096  # 12-bit decays: 0 keeps everything, 4096 keeps nothing
WEIGHT_ABS_MAX = 255 << 7  # an 8-bit mantissa with the largest weight exponent (7)
BIAS_MIN, BIAS_MAX = -(1 << 15), (1 << 15) - 1  # Lava's fixed_pt LIF: int16 bias_mant
DELAY_MAX = 62  # netx's DelayDense max_delay


def wrap_u(u):
    """``u`` (int64 array or tensor) wrapped into Loihi's signed 24 bits as Lava's
    ``fixed_pt`` LIF wraps the current: ``u > 2**23 -> u - 2**24``, ``u <= -2**23 -> u +
    2**24`` (one wrap: one step's input never exceeds 24 bits)."""
    return u - (2 * UV_MAX) * (u > UV_MAX) + (2 * UV_MAX) * (u <= -UV_MAX)


def clip_v(v):
    """``v`` (int64 array or tensor) clipped to ``+-(2**23 - 1)`` as Lava clips the
    voltage."""
    return v.clip(1 - UV_MAX, UV_MAX - 1)


def clip_activation(a):
    """A synaptic sum (array or tensor, any integer dtype) clipped to signed 24 bits
    ``-2**23 .. 2**23 - 1``, as Lava's ``Dense``/``Conv`` hold ``a_out``."""
    return a.clip(-UV_MAX, UV_MAX - 1)
