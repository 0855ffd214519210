"""netx HDF5, the file format of ``lava.lib.dl.netx``, in one home: read once, checked,
written.

- ``check``: the validator every reader runs first (``check_netx``, ``NetxSummary``).
- ``fields``: one layer group's fields read and checked (``LayerReader``).
- ``shape``: a file's input shape (input layer, dense size or a first conv layer's
  geometry).
- ``layers``: the layers as netx builds them, typed for the emulator (``EmuLayer``).
- ``file``: ``read_netx`` opens a file once and gives ``NetxFile`` (geometry, metadata,
  input shapes, layers), which every stage after it takes instead of a path.
- ``network``: ``QuantizedNetwork``, the network in Loihi fixed point.
- ``write``: ``netx_bytes``, ``write_netx``.

Loihi's integer format itself (scales, ranges, wrap) is :mod:`rouser_lava.loihi`.
"""
