"""Other frameworks' networks in and out: lava-dl netx files and NIR graphs become
trainable Rouser networks; a Rouser network becomes a NIR graph; and what a file of
any of our formats holds.

- ``imported``: ``ImportResult`` and the grids an imported layer is fitted to.
- ``netx_import``: ``import_netx`` (a lava-dl netx file -> ``RouserNet``).
- ``nir_import``: ``import_nir`` (a NIR graph, with its source's conventions).
- ``nir_export``: ``export_nir`` (a model -> NIR graph, Lava convention).
- ``file_info``: ``describe_file`` (``rouser-info``: a ``.pt``, ``.net`` or ``.nir``
  described, with its provenance).
"""
