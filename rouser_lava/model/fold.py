"""Loihi 2's fold of per-neuron thresholds into weights, and what Lava then does with
integer dense weights: the arithmetic that fold-exact training, quantization and the
emulator must share to agree spike for spike.

CUBA with reset to zero is linear below threshold, so neuron ``i`` with threshold
``Th_i`` behaves like one with a shared ``Th_ref`` whose input weights are scaled by
``Th_ref / Th_i``. A layer then holds one ``vThMant = M`` and weights
``clip(rint(w_mant * M / th_mant_i), -256, 254)``. ``M`` is the largest value for
which no scaled weight leaves [-256, 254] and no neuron's state grows more than
``max_gain`` times (default 8) over what the unfolded neuron sees (``u`` and ``v``
scale by ``M / th_mant_i`` and must stay inside Loihi's 24 bits); where a multiple of
the exact step (:func:`exact_step`: every ``w_mant * M / th_mant_i`` an integer) fits,
the largest such multiple, which rounds nothing.

Lava's dense synapse then takes netx's ``optimize_weight_bits`` (an exponent, and
the weights shifted by it) and its own ``clip_weights`` / ``truncate_weights``; the
activation is the integer sum of those weights over the spiking inputs, shifted by the
exponent (``>>`` floors negative sums).
"""

from __future__ import annotations

import numpy as np

from ..loihi import TH_MANT_MAX

W_MIN, W_MAX = -256, 254  # integer weights netx keeps intact for mixed-sign matrices
DEFAULT_MAX_GAIN = 8.0  # most a folded neuron's u, v may grow relative to training


def choose_shared_threshold(w_mant: np.ndarray, th_mant: np.ndarray,
                            max_gain: float = DEFAULT_MAX_GAIN) -> int:
    """Largest ``vThMant`` M for which ``round(w * M / th_i)`` stays in [-256, 254]
    and ``M / th_i <= max_gain`` for every neuron; where a multiple of
    :func:`exact_step` fits, the largest such (at least half of that M, and the fold
    then rounds nothing: an imported layer whose thresholds are equal keeps its exact
    weights).

    ``w_mant`` is ``(C_out, ...)`` integer weights; ``th_mant`` ``(C_out,)``.
    Returns at least 1 (clipping then happens) and at most the 17-bit maximum.
    """
    rows = w_mant.reshape(len(w_mant), -1).astype(np.float64)
    th = th_mant.astype(np.float64)
    pos, neg = rows.max(axis=1), -rows.min(axis=1)
    limits = [np.floor(max_gain * th.min()) + 1]  # M <= max_gain * th_min
    with np.errstate(divide="ignore"):
        limits.append(np.min(np.where(pos > 0, (W_MAX + 0.5) * th / pos, np.inf)))
        limits.append(np.min(np.where(neg > 0, (-W_MIN + 0.5) * th / neg, np.inf)))
    m = min(limits)
    m = TH_MANT_MAX if not np.isfinite(m) else int(np.ceil(m) - 1)
    m = int(np.clip(m, 1, TH_MANT_MAX))
    step = exact_step(w_mant, th_mant)
    return step * (m // step) if step <= m else m


def exact_step(w_mant: np.ndarray, th_mant: np.ndarray) -> int:
    """The smallest ``M`` for which every ``w * M / th_i`` is an integer (the fold then
    rounds nothing): the lcm over rows of ``th_i / gcd(th_i, gcd of row i)``; its
    multiples are exactly the exact ones. Large (above any ``M``) where thresholds
    differ much."""
    rows = np.abs(w_mant.reshape(len(w_mant), -1)).astype(np.int64)
    th = np.maximum(th_mant.astype(np.int64).reshape(-1), 1)  # vThMant 0: as 1
    q = th // np.gcd(th, np.gcd.reduce(rows, axis=1))
    step = 1
    for value in np.unique(q):
        step = int(np.lcm(step, int(value)))
        if step > TH_MANT_MAX:
            return TH_MANT_MAX + 1
    return step


def fold_weights(w: np.ndarray, th: np.ndarray, th_ref: float) -> np.ndarray:
    """Scale row ``i`` of ``w`` (``(C_out, ...)``) by ``th_ref / th[i]``; no rounding."""
    scale = th_ref / th.astype(np.float64)
    return w * scale.reshape(-1, *([1] * (w.ndim - 1)))


def folded_weights(w_mant: np.ndarray, th_mant: np.ndarray, m: int) -> tuple[np.ndarray, int]:
    """int64 weights of the fold with shared ``vThMant`` ``m`` (same shape as
    ``w_mant``), and how many were clipped to [-256, 254]."""
    rounded = np.rint(fold_weights(w_mant.astype(np.float64), th_mant, m))
    clipped = int(np.sum((rounded < W_MIN) | (rounded > W_MAX)))
    return np.clip(rounded, W_MIN, W_MAX).astype(np.int64), clipped


def lava_dense_weight(weight: np.ndarray, num_bits: int) -> np.ndarray:
    """Weights as Lava's Dense fixed_pt model ends up using them (after netx's
    ``optimize_weight_bits`` chose ``num_bits``)."""
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    mode = determine_sign_mode(weight)
    return truncate_weights(clip_weights(weight, mode, num_bits=8), mode, num_bits)


def optimize_weight_bits(weight: np.ndarray) -> tuple[np.ndarray, int, int]:
    """netx's ``optimize_weight_bits`` (lava-dl ``src/lava/lib/dl/netx/utils.py``) of the
    integer ``weight``: the shifted weights (int64, same shape), bits and exponent.

    netx decides from the largest and smallest weight and from the largest ``n <= 8``
    for which every weight is a multiple of ``2**n`` (it sums ``|w / 2**n - round(w /
    2**n)|`` over the matrix for each ``n`` from 8 down: up to eight float passes). The
    same decision comes from netx's own function on three of the weights (the largest,
    the smallest, and one with the fewest trailing zero bits, found with one bitwise OR),
    and the shift is its ``left_shift`` of the whole matrix: the same results (tested
    against netx on the whole matrix). A matrix netx would clip goes to netx whole.
    """
    from lava.lib.dl.netx.utils import optimize_weight_bits as netx_optimize

    flat = np.asarray(weight).reshape(-1).astype(np.int64, copy=False)
    hi, lo = (flat.max(), flat.min()) if flat.size else (0, 0)
    if flat.size == 0 or (hi > W_MAX and lo < 0) or (lo < W_MIN and hi > 0):
        shifted, bits, exp, _ = netx_optimize(weight)
        return shifted, int(bits), int(exp)
    ored = np.bitwise_or.reduce(flat)
    low_bit = ored & -ored  # 0: all zero
    # a weight with that lowest set bit (argmax stops at the first), none when all zero
    odd = flat[np.argmax((flat & low_bit) != 0)][None] if low_bit else flat[:0]
    _, bits, exp, _ = netx_optimize(np.concatenate(([hi, lo], odd)))
    shifted = np.left_shift(weight.astype(np.int32), int(-exp))  # netx: << scale_bits
    return shifted.astype(int), int(bits), int(exp)


def lava_dense_synapse(weight: np.ndarray) -> tuple[np.ndarray, int]:
    """What a netx dense layer with integer ``weight`` (``(C_out, C_in)``) computes:
    the effective integer weights and the exponent their sum is shifted by."""
    shifted, bits, exp = optimize_weight_bits(weight)
    return lava_dense_weight(shifted, bits), int(exp)


def lava_dense_rec_synapse(weight: np.ndarray, weight_rec: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray, int]:
    """What a netx ``dense_rec`` layer with integer ``weight`` ``(C_out, C_in)`` and
    ``weight_rec`` ``(C_out, C_out)`` computes: netx picks one exponent and bit width for
    both (``optimize_weight_bits`` on ``hstack((weight, weight_rec))``, lava-dl
    ``src/lava/lib/dl/netx/hdf5.py``, ``create_dense``), then each of the two Dense
    synapses clips and truncates its own matrix (its own sign mode,
    ``netx/blocks/process.py``, ``RecurrentDense``). Returns both effective integer
    matrices and the exponent each sum is shifted by."""
    both, bits, exp = optimize_weight_bits(np.hstack((weight, weight_rec)))
    cols = weight.shape[1]
    return (lava_dense_weight(both[:, :cols], bits), lava_dense_weight(both[:, cols:], bits),
            int(exp))
