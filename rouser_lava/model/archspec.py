"""``--arch``: a network as a short string, and back.

Layers are separated by ``-``; each is one token:

=========================== =====================================================
``c<C>[k<K>][s<S>][p<P>][g<G>][b]`` conv, ``C`` output channels, square kernel
                            ``K`` (default 3), stride ``S`` (1), padding ``P`` (0),
                            groups ``G`` (1); input ``(C_in, H, W)``
``p<K>``                    sum pooling ``K x K``, stride ``K``, into CUBA neurons
                            (one threshold per channel); input ``(C, H, W)``
``f``                       flatten ``(C, H, W) -> (C*H*W,)``, netx's C order
``d<N>[b]``                 dense, ``N`` neurons; input ``(C,)``
``r<N>[b]``                 recurrent (dense + recurrent weights into ``N`` neurons,
                            netx ``dense_rec``)
=========================== =====================================================

A trailing ``b`` gives the layer a learnable bias per neuron (conv: per channel), off
by default, exported as netx's ``bias`` (Loihi's ``bias_mant``). The last layer must be
dense or recurrent with one neuron per class. Example for
DVS128 (128x128x2, 11 classes): ``p4-c16k5s2p2-p2-c32k3p1-p2-f-d128-d11``; for SHD (700
inputs, 20 classes): ``r256-d20``. :func:`parse_arch` gives the plain-data ``arch`` of
:mod:`rouser_lava.model.blocks` (what ``model.pt`` stores) and :func:`format_arch` the
string back.
"""

from __future__ import annotations

import re

from ..errors import UserError, param
from .blocks import conv_spec, dense_spec, layer_shapes, pool_spec, recurrent_spec

GRAMMAR = "c<C>[k<K>][s<S>][p<P>][g<G>][b], p<K>, f, d<N>[b] or r<N>[b]"
_CONV = re.compile(r"c(\d+)(?:k(\d+))?(?:s(\d+))?(?:p(\d+))?(?:g(\d+))?(b?)")
_SIMPLE = re.compile(r"(p|d|r)(\d+)(b?)|f")


def _tokens(text: str) -> list[re.Match]:
    """Each layer token matched; UserError naming the first that is not one."""
    if not isinstance(text, str) or not text.strip():
        raise UserError(f"{param('arch')} is empty; give layers like c16k5s2-p2-f-d11 "
                        f"({GRAMMAR})")
    out = []
    for i, token in enumerate(text.strip().split("-")):
        match = _CONV.fullmatch(token) or _SIMPLE.fullmatch(token)
        if match is None or (match.re is _SIMPLE and match.group(3) and match.group(1) == "p"):
            raise UserError(f"{param('arch')} layer {i} '{token}' is not a layer ({GRAMMAR})")
        out.append(match)
    return out


def check_arch_syntax(text: str, neuron: str = "cuba", readout: str = "spikes") -> None:
    """UserError naming the first token of ``text`` that is not a layer, or a recurrent
    or biased layer that the ``neuron`` and ``readout`` cannot have (both need cuba
    neurons that spike)."""
    tokens = _tokens(text)
    for i, match in enumerate(tokens):
        token = match.group(0)
        needs_cuba = token.startswith("r") or token.endswith("b")
        if needs_cuba and (neuron != "cuba" or (readout == "membrane" and
                                                 i == len(tokens) - 1)):
            raise UserError(f"{param('arch')} layer {i} '{token}': recurrent and biased "
                            f"layers hold cuba neurons that spike (got {param('neuron')} "
                            f"{neuron}, {param('readout')} {readout})")


def _spec(match: re.Match, shape: tuple[int, ...], where: str) -> dict:
    """The layer dict of one token for input ``shape``; UserError when it cannot take it."""
    token = match.group(0)
    if token == "f":
        if len(shape) != 3:
            raise UserError(f"{where}: flatten takes (C, H, W) input, gets {shape}")
        return {"kind": "flatten"}
    if match.re is _CONV:
        out, k, s, p, g = (int(v) if v is not None else d for v, d in
                           zip(match.groups()[:5], (0, 3, 1, 0, 1)))
        if len(shape) != 3:
            raise UserError(f"{where}: conv takes (C, H, W) input, gets {shape}")
        if min(out, k, s, g) < 1 or shape[0] % g or out % g:
            raise UserError(f"{where}: channels {shape[0]} -> {out}, kernel {k}, stride "
                            f"{s}, groups {g}: sizes must be >= 1 and groups must divide "
                            f"both channel counts")
        if any(size + 2 * p < k for size in shape[1:]):
            raise UserError(f"{where}: kernel {k} is larger than the padded input "
                            f"{shape[1] + 2 * p}x{shape[2] + 2 * p} (input {shape})")
        spec = conv_spec(shape[0], out, k, stride=s, padding=p, groups=g)
        return {**spec, "bias": True} if match.group(6) else spec
    kind, size = match.group(1), int(match.group(2))
    if size < 1:
        raise UserError(f"{where}: size must be >= 1")
    if kind == "p":
        if len(shape) != 3:
            raise UserError(f"{where}: pooling takes (C, H, W) input, gets {shape}")
        if any(dim < size for dim in shape[1:]):
            raise UserError(f"{where}: pool {size}x{size} is larger than the input {shape}")
        return pool_spec(shape[0], size)
    if len(shape) != 1:
        raise UserError(f"{where}: takes (N,) input, gets {shape}; put 'f' before it")
    if kind == "d":
        spec = dense_spec(shape[0], size)
        return {**spec, "bias": True} if match.group(3) else spec
    return recurrent_spec(shape[0], size, bias=bool(match.group(3)))


def parse_arch(text: str, input_shape: tuple[int, ...], num_classes: int) -> list[dict]:
    """The ``arch`` (list of layer dicts) that ``text`` describes for samples of
    ``input_shape`` (``(C,)`` or ``(C, H, W)``) and ``num_classes`` outputs.

    Raises UserError naming the layer (index and token) and the shapes where the layers
    do not chain, and when the last layer is not dense or recurrent with
    ``num_classes`` neurons.
    """
    arch: list[dict] = []
    shape = tuple(int(s) for s in input_shape)
    for i, match in enumerate(_tokens(text)):
        spec = _spec(match, shape, f"{param('arch')} layer {i} '{match.group(0)}'")
        arch.append(spec)
        shape = layer_shapes(shape, [spec])[0]
    last = arch[-1]
    if last["kind"] not in ("dense", "recurrent") or last["out_features"] != num_classes:
        raise UserError(f"{param('arch')} must end with d{num_classes} or r{num_classes} "
                        f"(one neuron per class), ends with '{format_arch([last])}' giving "
                        f"{shape}")
    return arch


def format_arch(arch: list[dict]) -> str:
    """The ``--arch`` string of ``arch``; UserError for a layer the grammar cannot say
    (a non-square or dilated conv, a pool weight other than 1, an imported layer's own
    decays)."""
    tokens = []
    for i, spec in enumerate(arch):
        kind = spec["kind"]
        if kind == "flatten":
            tokens.append("f")
        elif kind == "dense":
            tokens.append(f"d{spec['out_features']}{'b' if spec.get('bias') else ''}")
        elif kind == "recurrent":
            tokens.append(f"r{spec['out_features']}{'b' if spec.get('bias') else ''}")
        elif kind == "pool":
            tokens.append(f"p{spec['kernel_size'][0]}")
        else:
            k, s, p, d = (spec[key] for key in ("kernel_size", "stride", "padding",
                                                "dilation"))
            token = f"c{spec['out_channels']}k{k[0]}" + (f"s{s[0]}" if s[0] != 1 else "") \
                + (f"p{p[0]}" if p[0] else "") + (f"g{spec['groups']}" if spec["groups"] != 1
                                                  else "")
            tokens.append(token + ("b" if spec.get("bias") else ""))
        square = all(len(set(spec.get(key, [0]))) == 1 for key in
                     ("kernel_size", "stride", "padding", "dilation"))
        plain = (kind != "pool" or spec.get("weight", 1.0) == 1.0) and \
            spec.get("dilation", [1])[0] == 1 and square and \
            not {"current_decay", "voltage_decay"} & set(spec)
        if not plain:
            raise UserError(f"layer {i} ({kind}) has settings {param('arch')} cannot "
                            f"express: {spec}")
    return "-".join(tokens)
