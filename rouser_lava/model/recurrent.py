"""A recurrent Rouser block: dense input weights plus recurrent weights into the same CUBA
neurons (what lava-dl's ``slayer.block.cuba.Recurrent`` is), exported as a netx
``dense_rec`` layer, and an optional learnable bias (Loihi's ``bias_mant``).

On Lava (lava-dl ``src/lava/lib/dl/netx/blocks/process.py``, ``RecurrentDense``) the
layer's spikes at step ``t`` pass a second Dense synapse and reach its own ``u`` at step
``t + 1``; netx gives both synapses one weight exponent and bit width
(:func:`rouser_lava.model.fold.lava_dense_rec_synapse`). The bias is added to ``v`` every
step as ``bias_mant << 6`` (netx's ``bias_exp`` 6), from Lava's very first step, before
any input arrives.

Per step ``t`` (integer state units, as :mod:`rouser_lava.model.neuron`)::

    a[t] = floor(W_ff x[t] * 2**e) + floor(W_rec s[t-1] * 2**e)
    u[t] = wrap24(rtz(u[t-1] (4096 - d_u) / 4096) + (a[t] << 6))
    v[t] = clip24(rtz(v[t-1] (4096 - d_v) / 4096) + u[t] + (b << 6))
    s[t] = v[t] > vth << 6, then v[t] = 0 where s[t]

The forward pass is exactly this loop (vector form: each neuron's own ``vThMant``;
fold-exact: the fold of both matrices and the bias, shared ``vThMant``); the backward
pass is SLAYER's surrogate (:mod:`rouser_lava.model.neuron`) through time, including
the recurrent path, with the unfolded voltage against each neuron's own threshold.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._slayer import slayer
from ..loihi import STATE_SCALE, TH_SCALE, clip_v, wrap_u
from .fold import DEFAULT_MAX_GAIN, choose_shared_threshold, folded_weights, lava_dense_rec_synapse
from .neuron import NeuronConfig, RouserCuba, decay_rtz
from .synapse import (
    W_SCALE,
    bias_mant,
    delay_one_step,
    fold_bias,
    fold_key,
    new_bias,
    quantize_bias,
    quantize_weight,
)


class _RecurrentCuba(torch.autograd.Function):
    """Input current ``(N, T, C)`` -> spikes ``(N, T, C)`` of a recurrent CUBA layer:
    Loihi-exact integer forward, surrogate backward through time."""

    @staticmethod
    def forward(ctx, current, w_rec, threshold, bias, run, consts):
        # run = (a_ff int64 (N, T, C), rec_eff float64 (C, C), exp, th_int (C,),
        #        bias_int (C,), gain (C,)): the deployed layer's integers
        a_ff, rec_eff, exp, th_int, bias_int, gain = run
        i_decay, v_decay, tau_rho, scale_rho = consts
        n, steps, size = a_ff.shape
        dev = current.device
        u = torch.zeros((n, size), dtype=torch.int64, device=dev)
        v = torch.zeros_like(u)
        s_prev = torch.zeros((n, size), dtype=torch.float64, device=dev)
        spikes = torch.zeros((n, steps, size), dtype=current.dtype, device=dev)
        v_seen = torch.zeros((n, steps, size), dtype=current.dtype, device=dev)
        rec_t = rec_eff.T.contiguous()
        for t in range(steps):
            rec = torch.floor(s_prev @ rec_t * 2.0 ** exp).to(torch.int64)
            u = wrap_u(decay_rtz(u, i_decay) + ((a_ff[:, t] + rec) << 6))
            v = clip_v(decay_rtz(v, v_decay) + u + (bias_int << 6))
            s = v > th_int
            v_seen[:, t] = (v.to(torch.float64) / (STATE_SCALE * gain)).to(current.dtype)
            spikes[:, t] = s.to(current.dtype)
            v = torch.where(s, torch.zeros_like(v), v)
            s_prev = s.to(torch.float64)
        ctx.save_for_backward(v_seen, spikes, w_rec, threshold)
        ctx.consts = consts
        ctx.has_bias = bias is not None
        return spikes

    @staticmethod
    def backward(ctx, grad_s):
        v_seen, spikes, w_rec, threshold = ctx.saved_tensors
        i_decay, v_decay, tau_rho, scale_rho = ctx.consts
        keep_u, keep_v = 1.0 - i_decay / STATE_SCALE, 1.0 - v_decay / STATE_SCALE
        coef = scale_rho / 2 / tau_rho
        n, steps, size = v_seen.shape
        grad_x = torch.empty_like(v_seen)
        grad_v_all = torch.empty_like(v_seen)
        gv_sur_sum = torch.zeros(size, dtype=v_seen.dtype, device=v_seen.device)
        gu = torch.zeros((n, size), dtype=v_seen.dtype)
        gv = torch.zeros_like(gu)
        w = w_rec.detach()
        for t in range(steps - 1, -1, -1):
            gs = grad_s[:, t] + gu @ w  # x[t+1] holds W_rec s[t]
            g_sur = coef * torch.exp(-(v_seen[:, t] - threshold).abs() / tau_rho) * gs
            gv = g_sur + keep_v * gv
            gu = gv + keep_u * gu
            grad_x[:, t] = gu
            grad_v_all[:, t] = gv
            gv_sur_sum -= g_sur.sum(0)
        grad_w_rec = torch.einsum("ntk,ntj->kj", grad_x[:, 1:], spikes[:, :-1])
        grad_bias = grad_v_all.sum((0, 1)) if ctx.has_bias else None
        return grad_x, grad_w_rec, gv_sur_sum, grad_bias, None, None


class Recurrent(nn.Module):
    """Dense and recurrent synapses into one Rouser CUBA population (per-neuron
    thresholds), with an optional learnable bias.

    ``spec``: ``{"kind": "recurrent", "in_features": C_in, "out_features": C}`` and
    optionally ``"bias": True``. Input spikes ``(N, C_in, T)``; output spikes
    ``(N, C, T)``. Raises ValueError for another neuron than ``cuba`` or a membrane
    readout (neither has a recurrent form here).

    Attributes
    ----------
    bias : torch.nn.Parameter or None
        float32 ``(C,)`` in threshold units (Loihi's ``bias_mant / 64``), when the spec
        asks for one; starts at 0.
    """

    def __init__(self, spec: dict, neuron: NeuronConfig, weight_scale: float = 1.0,
                 readout: bool = False):
        super().__init__()
        if neuron.neuron != "cuba" or (readout and neuron.readout == "membrane"):
            raise ValueError("a recurrent layer holds cuba neurons and spikes (no "
                             "single-spike neuron, no membrane readout)")
        self.spec = spec
        size = spec["out_features"]
        self.synapse = slayer.synapse.Dense(spec["in_features"], size,
                                            weight_scale=weight_scale,
                                            pre_hook_fx=quantize_weight)
        self.rec_synapse = slayer.synapse.Dense(size, size, weight_scale=weight_scale,
                                                pre_hook_fx=quantize_weight)
        self.neuron = RouserCuba(size, neuron)
        self.bias = new_bias(spec, size, self.neuron)
        self._deploy_cache: tuple[tuple, tuple[dict, np.ndarray, np.ndarray, int]] | None = None
        helpers = int(spec.get("bias_neurons", 0))
        if helpers:
            self._freeze_last(helpers)

    def _freeze_last(self, n: int) -> None:
        """Keep the last ``n`` neurons (bias neurons, see
        :mod:`rouser_lava.interop.bias_neurons`) as imported: their input rows,
        thresholds and biases get no gradient, so they go on firing every step; the
        weights out of them, the biases they carry, learn. Gradient hooks, set where the
        block is built (a deepcopy drops them)."""
        def rows(grad: torch.Tensor) -> torch.Tensor:
            grad = grad.clone()
            grad[-n:] = 0
            return grad

        for p in (self.synapse.weight, self.rec_synapse.weight, self.neuron.threshold,
                  self.bias):
            if p is not None and p.requires_grad:  # fixed thresholds are a buffer
                p.register_hook(rows)

    def weight(self) -> torch.Tensor:
        """float32 ``(C, C_in)``: the quantized feed-forward weights."""
        w = quantize_weight(self.synapse.weight.detach())
        return w.reshape(w.shape[0], -1)

    def weight_rec(self) -> torch.Tensor:
        """float32 ``(C, C)``: the quantized recurrent weights."""
        w = quantize_weight(self.rec_synapse.weight.detach())
        return w.reshape(w.shape[0], -1)

    def bias_mant(self) -> np.ndarray:
        """int64 ``(C,)``: Loihi's ``bias_mant`` (zeros without a bias)."""
        if self.bias is None:
            return np.zeros(self.spec["out_features"], dtype=np.int64)
        return bias_mant(self.bias)

    def deployed(self, w: torch.Tensor, w_rec: torch.Tensor, form: str,
                 max_gain: float = DEFAULT_MAX_GAIN) -> dict:
        """The integers the netx file holds for quantized weights ``w``, ``w_rec``:
        ``weight``, ``weight_rec``, ``bias`` (int64 ``bias_mant``) and ``v_th_mant``
        (``(C,)`` in vector form, the shared ``()`` in fold form), and ``clipped``."""
        w_all = np.rint(torch.cat((w, w_rec), 1).detach().double().cpu().numpy() * W_SCALE) \
            .astype(np.int64)
        th_mant = self.neuron.threshold_mant().cpu().numpy()
        bias = self.bias_mant()
        clipped = 0
        if form == "fold":
            m = choose_shared_threshold(w_all, th_mant, max_gain)
            w_all, clipped = folded_weights(w_all, th_mant, m)
            bias, v_th = fold_bias(bias, th_mant, m), np.array(m, dtype=np.int64)
        else:
            v_th = th_mant.copy()
        cols = w.shape[1]
        return {"weight": w_all[:, :cols], "weight_rec": w_all[:, cols:], "bias": bias,
                "v_th_mant": v_th, "clipped": clipped}

    def _deployed_run(self, w: torch.Tensor, w_rec: torch.Tensor
                      ) -> tuple[dict, np.ndarray, np.ndarray, int]:
        """:meth:`deployed` (fold or vector form, as the config says) and Lava's effective
        feed-forward and recurrent weights with their exponent; computed once per change
        of the weights, thresholds or bias (an optimizer step changes their versions),
        not per pass, as the dense and conv blocks do."""
        key = fold_key(self.synapse.weight, self.neuron.threshold, self.rec_synapse.weight,
                       self.bias)
        if self._deploy_cache is None or self._deploy_cache[0] != key:
            ints = self.deployed(w, w_rec, "fold" if self.neuron.config.fold_exact
                                 else "vector")
            self._deploy_cache = (key, (ints, *lava_dense_rec_synapse(ints["weight"],
                                                                        ints["weight_rec"])))
        return self._deploy_cache[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes ``(N, C, T)`` for spikes ``x`` ``(N, C_in, T)``: Lava's spikes of the
        ``dense_rec`` layer, output column ``t`` being Lava's step ``t + 1``."""
        cfg = self.neuron.config
        w = quantize_weight(self.synapse.weight).reshape(self.spec["out_features"], -1)
        w_rec = quantize_weight(self.rec_synapse.weight).reshape(len(w), -1)
        ints, ff_eff, rec_eff, exp = self._deployed_run(w, w_rec)
        dev = x.device
        th_mant = self.neuron.threshold_mant().double()
        v_th = torch.from_numpy(np.broadcast_to(ints["v_th_mant"], th_mant.shape).copy()) \
            .to(dev)
        gain = v_th.double() / th_mant
        xt = delay_one_step(x).transpose(1, 2)  # (N, T, C_in): Lava's synaptic delay
        with torch.no_grad():
            a_ff = torch.floor(xt.double() @ torch.from_numpy(ff_eff.T.astype(np.float64))
                               .to(dev) * 2.0 ** exp).to(torch.int64)
        current = nn.functional.linear(xt, w)  # (N, T, C), the gradient's path
        bias = None if self.bias is None else quantize_bias(self.bias)
        run = (a_ff, torch.from_numpy(rec_eff.astype(np.float64)).to(dev), exp,
               v_th.to(torch.int64) * TH_SCALE, torch.from_numpy(ints["bias"]).to(dev), gain)
        consts = (cfg.i_decay, cfg.v_decay, self.neuron.tau_rho, self.neuron.scale_rho)
        th = self.neuron.quantized_threshold()
        s = _RecurrentCuba.apply(current, w_rec, th, bias, run, consts)
        return s.transpose(1, 2)
