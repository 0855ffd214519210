"""CUBA LIF neuron with one learnable threshold per neuron (the Rouser method).

Dynamics, per time step ``t`` and neuron ``i``, in Loihi's integer units
(state scaled by ``2**12``, decays in ``1/4096``):

.. math::
    u[t] &= \\operatorname{rtz}(u[t-1] (4096 - d_u) / 4096) + x[t] \\\\
    v[t] &= \\operatorname{rtz}(v[t-1] (4096 - d_v) / 4096) + u[t] \\\\
    s[t] &= v[t] > \\vartheta_i \\\\
    v[t] &\\leftarrow v[t] (1 - s[t])

``u`` wraps and ``v`` clips at signed 24 bits, as on Loihi. ``rtz`` rounds toward
zero (sign-magnitude right shift), exactly as Lava's
``PyLifModelBitAcc`` and slayer's CPU leaky integrator compute it. The spike test
is strict, like Loihi's ``v > vth << 6``; slayer gets the same with its
``threshold_eps``. Thresholds live on Loihi's grid: ``vThMant = threshold * 64``.

Gradients (spatio-temporal backprop as in lava-dl SLAYER): the leaky integrators
pass gradients as linear filters (the reset is not differentiated), and the spike
uses lava-dl's exponential surrogate,

.. math::
    \\partial s / \\partial v = -\\partial s / \\partial \\vartheta
    = \\frac{s_\\rho}{2 \\tau_\\rho} e^{-|v - \\vartheta| / \\tau_\\rho},

with ``tau_rho = 100 * tau_grad * threshold_init`` and ``s_rho = 0.1 * scale_grad``
(lava-dl's ``TAU_RHO_MULT`` and ``SCALE_RHO_MULT``: lava-nc/lava-dl,
``src/lava/lib/dl/slayer/neuron/cuba.py`` ``Neuron.spike`` and ``neuron/base.py``
``tau_rho = tau_grad * threshold``; the surrogate itself is
``slayer/spike/spike.py`` ``_spike_backward``). The Rouser paper writes the same
function as ``dS/dV = (s / tau) exp(-|V - Th| / tau)``, so

.. math::
    \\tau = \\tau_\\rho = 100 \\tau_{grad} \\vartheta_{init}, \\quad
    s = s_\\rho / 2 = 0.05\\, scale_{grad}.

lava-dl's NMNIST values (threshold 1.25, tau_grad 0.03, scale_grad 3) give tau = 3.75
and s = 0.15; the paper's Table II states tau = 3.75 and s = 1.5 (``scale_grad / 2``,
without lava-dl's 0.1), ten times higher. ``NeuronConfig.surrogate_tau`` and
``surrogate_scale`` set ``tau`` and ``s`` in the paper's convention directly.
The threshold gradient is the one the Rouser paper adds; with
``learn_threshold=False`` the neuron is stock slayer CUBA.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..loihi import STATE_SCALE, TH_MANT_MAX, TH_SCALE, clip_v, wrap_u
from .cuba_kernels import cuba_rows, spike_backward_rows

TAU_RHO_MULT = 100  # lava-dl slayer.neuron.cuba
SCALE_RHO_MULT = 0.1  # lava-dl slayer.neuron.cuba
NEURONS = ("cuba", "single-spike")  # NeuronConfig.neuron
READOUTS = ("spikes", "membrane")  # NeuronConfig.readout
FOLD_EXACT = ("cuba", "spikes")  # the neuron and readout fold-exact training needs: the
# fold (model/fold.py) assumes reset to zero and a spiking last layer


@dataclass(frozen=True)
class NeuronConfig:
    """Run settings of the Rouser neuron (shared by every layer of a net). Raises
    ValueError for an unknown ``neuron`` or ``readout``, and for ``fold_exact`` with
    another neuron than ``cuba`` or another readout than ``spikes``."""

    threshold: float = 1.25  # initial threshold, in units where a weight of 1 adds 1
    current_decay: float = 0.25  # fraction of u lost per step (lava-dl convention)
    voltage_decay: float = 0.03  # fraction of v lost per step
    tau_grad: float = 0.03  # surrogate width, relative to the initial threshold
    scale_grad: float = 3.0  # surrogate height (lava-dl scale_grad)
    surrogate_tau: float | None = None  # paper's tau (width, voltage units); None: tau_grad's
    surrogate_scale: float | None = None  # paper's s (dS/dV peaks at s/tau); None: scale_grad's
    learn_threshold: bool = True  # Rouser: per-neuron thresholds are trained
    fold_exact: bool = False  # the forward pass is the Loihi 2 fold export (model/fold.py)
    neuron: str = "cuba"  # "cuba" or "single-spike" (model/single_spike.py), every layer
    readout: str = "spikes"  # last layer: "spikes" (counts) or "membrane" (v, never spikes)
    readout_decay: float = 0.05  # membrane readout: fraction of u lost per step (vDecay 0)

    def __post_init__(self):
        if self.neuron not in NEURONS:
            raise ValueError(f"unknown neuron '{self.neuron}' (choose from: "
                             f"{', '.join(NEURONS)})")
        if self.readout not in READOUTS:
            raise ValueError(f"unknown readout '{self.readout}' (choose from: "
                             f"{', '.join(READOUTS)})")
        if self.fold_exact and (self.neuron, self.readout) != FOLD_EXACT:
            raise ValueError("fold-exact training needs the cuba neuron and the spiking "
                             "readout (the fold assumes reset to zero)")

    @property
    def tau(self) -> float:
        """Surrogate width in the paper's convention (``tau_rho``, voltage units)."""
        if self.surrogate_tau is not None:
            return float(self.surrogate_tau)
        th0 = min(max(round(self.threshold * TH_SCALE), 1), TH_MANT_MAX) / TH_SCALE
        return TAU_RHO_MULT * self.tau_grad * th0  # lava-dl: the threshold as used

    @property
    def s(self) -> float:
        """Surrogate height in the paper's convention: ``dS/dV`` peaks at ``s / tau``."""
        if self.surrogate_scale is not None:
            return float(self.surrogate_scale)
        return SCALE_RHO_MULT * self.scale_grad / 2

    @property
    def i_decay(self) -> int:
        """Current decay as Loihi's 12-bit ``iDecay``."""
        return int(round(self.current_decay * STATE_SCALE))

    @property
    def v_decay(self) -> int:
        """Voltage decay as Loihi's 12-bit ``vDecay``."""
        return int(round(self.voltage_decay * STATE_SCALE))

    @property
    def readout_i_decay(self) -> int:
        """Current decay of the membrane readout as Loihi's 12-bit ``iDecay``."""
        return int(round(self.readout_decay * STATE_SCALE))

    def to_dict(self) -> dict:
        return asdict(self)


def decay_rtz(state: torch.Tensor, decay: int) -> torch.Tensor:
    """One leak step of an int64 state: ``sign(x) * ((|x| * (4096 - decay)) >> 12)``."""
    return torch.sign(state) * ((state.abs() * (STATE_SCALE - decay)) >> 12)


def cuba_fixed(
    x_int: torch.Tensor, i_decay: int, v_decay: int, th_int: torch.Tensor,
    bias_int: torch.Tensor | int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Integer CUBA dynamics with reset to zero; pure function. ``u`` wraps and ``v``
    clips at Loihi's signed 24 bits (as Lava's fixed-point LIF does).

    Parameters
    ----------
    x_int : torch.Tensor
        int64 ``(N, C, ..., T)``: input current per step, in state units (``a << 6``).
    i_decay, v_decay : int
        12-bit decays (``iDecay``, ``vDecay``).
    th_int : torch.Tensor
        int64, broadcastable to ``(N, C, ...)``: threshold in state units
        (``vThMant << 6``). A neuron spikes when ``v > th_int``.
    bias_int : torch.Tensor or int
        int64, broadcastable like ``th_int``: added to ``v`` every step, in state units
        (``bias_mant << 6``, Loihi's ``bias_exp`` 6).

    Returns
    -------
    u, v, s : torch.Tensor
        int64 current and pre-reset voltage, and bool spikes, each ``(N, C, ..., T)``.
    """
    u = torch.zeros_like(x_int)
    v = torch.zeros_like(x_int)
    s = torch.zeros(x_int.shape, dtype=torch.bool, device=x_int.device)
    u_t = torch.zeros_like(x_int[..., 0])
    v_t = torch.zeros_like(u_t)
    for t in range(x_int.shape[-1]):
        u_t = decay_rtz(u_t, i_decay) + x_int[..., t]
        u_t = wrap_u(u_t)  # 24-bit wrap
        v_t = clip_v(decay_rtz(v_t, v_decay) + u_t + bias_int)  # 24-bit clip
        u[..., t] = u_t
        v[..., t] = v_t
        s[..., t] = v_t > th_int
        v_t = torch.where(s[..., t], torch.zeros_like(v_t), v_t)
    return u, v, s


def leaky_adjoint(grad: torch.Tensor, decay: int) -> torch.Tensor:
    """Backward pass of a linear leaky integrator ``y[t] = a y[t-1] + x[t]``.

    ``grad`` is ``(..., T)``; returns ``dL/dx`` of the same shape. The same
    adjoint as slayer's ``_li_dynamics_bwd`` (reset is not differentiated).
    """
    a = 1.0 - decay / STATE_SCALE
    out = torch.empty_like(grad)
    acc = torch.zeros_like(grad[..., -1])
    for t in range(grad.shape[-1] - 1, -1, -1):
        acc = a * acc + grad[..., t]
        out[..., t] = acc
    return out


def _per_channel(grad: torch.Tensor) -> torch.Tensor:
    """``(N, C, ...)`` summed to ``(C,)`` (dense) or ``(C, 1, 1)`` (conv)."""
    grad = grad.sum(0)
    if grad.dim() > 1:
        grad = grad.sum(dim=tuple(range(1, grad.dim())), keepdim=True)
    return grad


def _rows(x: torch.Tensor) -> np.ndarray:
    """``(..., T)`` as a C-contiguous ``(M, T)`` array sharing memory where it can."""
    return x.detach().contiguous().reshape(-1, x.shape[-1]).numpy()


class _CubaSpike(torch.autograd.Function):
    """Input current -> spikes, Loihi-exact forward, surrogate backward.

    On a CPU both passes run as compiled kernels (:mod:`rouser_lava.model.cuba_kernels`), one
    pass per neuron; elsewhere as the torch loops :func:`cuba_fixed` and
    :func:`leaky_adjoint`. Both give the same spikes and voltages (tested).
    """

    @staticmethod
    def forward(ctx, x, threshold, i_decay, v_decay, tau_rho, scale_rho, folded=None,
                bias=None, bias_int=None):
        # ``folded`` = (x_run, th_run, gain): run those (the fold's integer current and
        # shared threshold) and keep v / gain, the unfolded voltage, for the backward.
        # ``bias`` (float, shaped like ``threshold``) is the trained bias; ``bias_int``
        # (int64, same shape, state units) what the run adds to v (the fold's, if folded).
        x_run, th_run = (x, threshold) if folded is None else folded[:2]
        b_int = torch.zeros_like(threshold, dtype=torch.int64) if bias_int is None \
            else bias_int
        # slayer truncates the scaled input toward zero: (w_scale * input).to(int)
        x_int = (x_run * STATE_SCALE).to(torch.int64)
        th_int = torch.round(th_run * TH_SCALE).to(torch.int64) * TH_SCALE
        if x.device.type == "cpu" and x.dtype == torch.float32:
            th_rows = torch.broadcast_to(th_int, x.shape[:-1])
            b_rows = torch.broadcast_to(b_int, x.shape[:-1]).contiguous()
            v, s = (torch.empty(x.shape, dtype=x.dtype) for _ in range(2))  # contiguous
            cuba_rows(_rows(x_int), i_decay, v_decay, th_rows.reshape(-1).numpy(),
                      b_rows.reshape(-1).numpy(), v.view(-1, x.shape[-1]).numpy(),
                      s.view(-1, x.shape[-1]).numpy())
        else:
            _, v_int, s = cuba_fixed(x_int, i_decay, v_decay, th_int, b_int)
            v, s = v_int.to(x.dtype) / STATE_SCALE, s.to(x.dtype)
        if folded is not None:
            v = v / folded[2].unsqueeze(-1)
        ctx.save_for_backward(v, threshold.unsqueeze(-1))
        ctx.consts = (i_decay, v_decay, tau_rho, scale_rho)
        ctx.has_bias = bias is not None
        return s

    @staticmethod
    def backward(ctx, grad_s):
        v, threshold = ctx.saved_tensors
        i_decay, v_decay, tau_rho, scale_rho = ctx.consts
        coef = scale_rho / 2 / tau_rho
        if v.device.type == "cpu" and v.dtype == torch.float32:
            th_rows = torch.broadcast_to(threshold.squeeze(-1), v.shape[:-1])
            grad_x = torch.empty(v.shape, dtype=v.dtype)
            grad_v_sum = torch.empty(v.shape[:-1], dtype=v.dtype)
            grad_b_sum = torch.empty(v.shape[:-1], dtype=v.dtype)
            keep = [np.float32(1.0 - d / STATE_SCALE) for d in (v_decay, i_decay)]
            # (mypy counts the starred ``keep`` as any length; it is two values)
            spike_backward_rows(_rows(grad_s), _rows(v), th_rows.reshape(-1).numpy(),  # type: ignore[call-arg]
                                np.float32(coef), np.float32(tau_rho), *keep,
                                grad_x.view(-1, v.shape[-1]).numpy(),
                                grad_v_sum.view(-1).numpy(), grad_b_sum.view(-1).numpy())
        else:
            grad_v = coef * torch.exp(-(v - threshold).abs() / tau_rho) * grad_s
            grad_in_v = leaky_adjoint(grad_v, v_decay)
            grad_x = leaky_adjoint(grad_in_v, i_decay)
            grad_v_sum, grad_b_sum = grad_v.sum(-1), grad_in_v.sum(-1)
        grad_th = -_per_channel(grad_v_sum) if ctx.needs_input_grad[1] else None
        grad_b = _per_channel(grad_b_sum) if ctx.has_bias else None
        return grad_x, grad_th, None, None, None, None, None, grad_b, None


class _ThresholdGrid(torch.autograd.Function):
    """Round thresholds to Loihi's 1/64 grid, positive and within 17 bits (STE)."""

    @staticmethod
    def forward(ctx, th):
        mant = torch.round(th * TH_SCALE).clamp(1, TH_MANT_MAX)
        return mant / TH_SCALE

    @staticmethod
    def backward(ctx, grad):
        return grad


class RouserCuba(nn.Module):
    """CUBA LIF population with a per-neuron (per-channel) threshold.

    Parameters
    ----------
    num_channels : int
        Number of neurons (dense) or output channels (conv).
    config : NeuronConfig
        Neuron run settings.

    Attributes
    ----------
    threshold : torch.Tensor
        float32 ``(C,)``; an ``nn.Parameter`` when ``config.learn_threshold``,
        else a buffer. Used on Loihi's 1/64 grid.
    """

    def __init__(self, num_channels: int, config: NeuronConfig):
        super().__init__()
        self.config = config
        th = torch.full((num_channels,), float(config.threshold))
        if config.learn_threshold:
            self.threshold = nn.Parameter(th)
        else:
            self.register_buffer("threshold", th)
        self.tau_rho = config.tau  # the surrogate dS/dV = s_rho / (2 tau_rho) exp(...)
        self.scale_rho = 2 * config.s

    def quantized_threshold(self) -> torch.Tensor:
        """float32 ``(C,)``: thresholds as the hardware holds them (multiples of 1/64)."""
        return _ThresholdGrid.apply(self.threshold)

    def threshold_mant(self) -> torch.Tensor:
        """int64 ``(C,)``: ``vThMant`` of every neuron."""
        return torch.round(self.quantized_threshold().detach() * TH_SCALE).to(torch.int64)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep the latent thresholds inside the representable range (call after a step)."""
        self.threshold.clamp_(1 / TH_SCALE, TH_MANT_MAX / TH_SCALE)

    def forward(self, x: torch.Tensor, folded: tuple[torch.Tensor, int] | None = None,
                bias: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Spikes ``(N, C, ..., T)`` float32 in {0, 1} for input current ``x`` of that shape.

        With ``folded = (x_fold, m)`` the spikes are those of the Loihi 2 fold: current
        ``x_fold`` (same shape, no gradient) into neurons sharing ``vThMant = m``. The
        fold scales neuron ``i``'s state by ``g_i = m / vThMant_i``; the backward pass
        uses the fold's voltage divided by ``g_i`` against the neuron's own threshold,
        so gradients (to ``x`` and the thresholds) are the unfolded neuron's.

        ``bias = (b, b_run)``: float32 ``(C,)`` trained bias (threshold units, on Loihi's
        grid) and int64 ``(C,)`` ``bias_mant`` the run adds to ``v`` every step (the
        fold's when folded); gradients reach ``b``.
        """
        th = self.quantized_threshold()
        shape = (-1, *([1] * (x.dim() - 3)))  # (C, 1..)
        run = None
        if folded is not None:
            x_fold, m = folded
            th_mant = (th.detach() * TH_SCALE).reshape(shape)
            run = (x_fold, torch.full_like(th_mant, m / TH_SCALE), m / th_mant)
        b, b_int = (None, None) if bias is None else \
            (bias[0].reshape(shape), (bias[1].to(torch.int64) << 6).reshape(shape))
        return _CubaSpike.apply(x, th.reshape(shape), self.config.i_decay,
                                self.config.v_decay, self.tau_rho, self.scale_rho, run, b,
                                b_int)
