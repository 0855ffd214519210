"""A netx file read once: its checked geometry, what we wrote into it, the input shapes
it allows and, for the emulator, its layers; every stage after the reader takes this.

:func:`read_netx` opens the file once: the structure is checked first (no weight is
read), then the memory the reader needs (:func:`rouser_lava.netx.check.require_fits`),
then every value, then the layers are built from the same open file; each dataset is
looked up and read once (:class:`rouser_lava.netx.fields.FileValues`). Lava itself
(``netx.hdf5.Network``) and each Lava worker process read the file again from its path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import NamedTuple

from ..data.record import check_dataset_record
from ..data.registry import LOADERS
from ..errors import UserError
from ..provenance import read_provenance
from .check import (
    NetxLayer,
    NetxSummary,
    check_open,
    check_open_fits,
    open_netx,
    require_fits,
)
from .fields import FileValues
from .layers import BYTES_PER_SYNAPSE, EmuLayer, load_layers
from .network import THRESHOLD_FORMS
from .shape import input_shapes


class Reader(NamedTuple):
    """Who reads a file, for the memory check: ``name`` and ``advice`` go into the
    error, ``bytes_per_synapse`` is its peak memory per weight."""

    name: str
    bytes_per_synapse: int
    advice: str


EMULATOR = Reader("the emulator", BYTES_PER_SYNAPSE, "run a smaller network")
# Lava's processes hold several copies of every weight: 64-1000-1000-10 -> 64-2000-2000-10
# added ~310 bytes per synapse to the summed RSS of the parent and its workers.
LAVA = Reader("Lava", 320, "run it on the emulator (the default backend)")


@dataclass(frozen=True)
class NetxMetadata:
    """What ``rouser-export`` wrote beside the network (netx ignores it): the dataset
    (``{}`` in files from elsewhere), the threshold form (None), the sample length
    ``/simulation/tSample`` (None when absent) and the provenance
    (:func:`rouser_lava.provenance.read_provenance`; None when absent or unreadable)."""

    dataset: dict = field(default_factory=dict)
    threshold_form: str | None = None
    time_steps: int | None = None
    provenance: dict | None = None


@dataclass(frozen=True)
class NetxFile:
    """A checked netx file.

    Attributes
    ----------
    path : str
        Where it was read from (Lava and worker processes read it again there).
    summary : NetxSummary
        The checked geometry: layers, neurons and synapses, readout, refractory periods.
    metadata : NetxMetadata
        Dataset, threshold form and sample length as written.
    input_shapes : list of tuple of int
        The shapes (torch order) a sample may have: one, unless a conv-first file
        leaves several (see :mod:`rouser_lava.netx.shape`).
    checked : bool
        Whether every value was checked (read with a ``reader``), not only the structure.
    layers : list of EmuLayer or None
        The emulator's layers (read with ``layers=True`` when the input shape is known).
    """

    path: str
    summary: NetxSummary
    metadata: NetxMetadata
    input_shapes: list[tuple[int, ...]]
    checked: bool = False
    layers: list[EmuLayer] | None = None

    def emulator_layers(self, input_shape: tuple[int, ...] | None = None) -> list[EmuLayer]:
        """The emulator's layers for samples of ``input_shape`` (torch order): those read
        with the file when they were built for that shape, else read now."""
        if self.layers is not None and (input_shape is None or
                                        tuple(input_shape) == self.input_shapes[0]):
            return self.layers
        with open_netx(self.path) as f:
            read = FileValues()
            check_open_fits(f, self.path, EMULATOR.bytes_per_synapse, EMULATOR.name,
                            EMULATOR.advice, input_shape, read)
            return load_layers(f, self.path, input_shape, read)

    @property
    def spiking(self) -> list[NetxLayer]:
        """The layers with neurons, in netx's order."""
        return self.summary.spiking

    @property
    def membrane_readout(self) -> bool:
        """Whether the last spiking layer is a membrane readout."""
        return self.summary.membrane_readout


def _metadata(f, path) -> NetxMetadata:
    """The attributes ``rouser-export`` writes, checked: ``rouser_dataset`` a JSON
    dataset record (:func:`rouser_lava.data.record.check_dataset_record`),
    ``rouser_threshold_form`` one of :data:`THRESHOLD_FORMS`."""
    text = f.attrs.get("rouser_dataset", "{}")
    try:
        if not isinstance(text, (str, bytes)):
            raise TypeError(f"a {type(text).__name__}, not a string")
        dataset = json.loads(text)
    except (TypeError, ValueError) as err:
        raise UserError(f"{path}: attribute rouser_dataset is not JSON ({err})") from None
    dataset = check_dataset_record(dataset, f"{path}: attribute rouser_dataset",
                                   tuple(LOADERS))
    form = f.attrs.get("rouser_threshold_form", None)
    form = form.decode("ascii", "replace") if isinstance(form, bytes) else form
    if form is not None and form not in THRESHOLD_FORMS:
        shown = form if isinstance(form, str) else type(form).__name__
        raise UserError(f"{path}: attribute rouser_threshold_form {shown!r}: expected "
                        f"{' or '.join(THRESHOLD_FORMS)}")
    steps = int(f["simulation/tSample"][()]) if "simulation/tSample" in f else None
    return NetxMetadata(dataset, form, steps, _provenance(f.attrs.get("rouser_provenance")))


def _provenance(text) -> dict | None:
    """The ``rouser_provenance`` attribute read: None when absent, not JSON or not a
    mapping (it describes the file; the file is usable without it)."""
    try:
        return read_provenance(json.loads(text)) if isinstance(text, (str, bytes)) else None
    except ValueError:
        return None


def as_netx(netx: NetxFile | str, reader: Reader,
            input_shape: tuple[int, ...] | None = None) -> NetxFile:
    """``netx`` itself when its values were checked, else the file at that path read
    with ``reader`` (and checked against samples of ``input_shape``, torch order)."""
    if isinstance(netx, NetxFile):
        return netx if netx.checked else read_netx(netx.path, input_shape, reader=reader)
    return read_netx(str(netx), input_shape, reader=reader)


def read_netx(path: str, input_shape: tuple[int, ...] | None = None, *,
              layers: bool = False, reader: Reader | None = None) -> NetxFile:
    """Read and check the netx file at ``path`` once.

    ``input_shape`` (torch order) is the samples' shape where the file does not state
    it. With ``reader`` the memory it needs is checked before any weight is read, and
    every value is checked; without, only the structure (no weight read). ``layers``
    (implies the emulator's ``reader`` when none is given) builds the emulator's layers
    too, when the input shape is known (given, or stated by the file).
    """
    reader = reader or (EMULATOR if layers else None)
    with open_netx(path) as f:
        read = FileValues()  # each dataset read once, by whichever pass needs it first
        summary = check_open(f, path, False, input_shape, read)
        if reader is not None:
            require_fits(summary, reader.bytes_per_synapse, reader.name, reader.advice)
            summary = check_open(f, path, True, input_shape, read)
        shapes = input_shapes(f, summary, input_shape)
        emu = load_layers(f, path, shapes[0], read) if layers and len(shapes) == 1 else None
        return NetxFile(str(path), summary, _metadata(f, path), shapes, reader is not None,
                        emu)
