"""Step 4, deployment: trained model -> Loihi fixed point -> netx HDF5.

- ``quantize``: ``quantize_network`` (fold or vector thresholds) -> ``QuantizedNetwork``.
- ``export``: ``netx_bytes``, ``write_netx``, ``read_metadata``, and ``rouser-export``'s
  step.
- ``netx_check``: the validator every netx reader runs first; ``netx_input``: a netx
  file's input shape (input layer, dense size or a first conv layer's geometry).
- ``imported``: ``ImportResult`` and the grids an imported layer is fitted to;
  ``netx_import`` (``import_netx``) and ``nir_import`` (``import_nir``, the source
  conventions) build a trainable network from a netx file or a NIR graph;
  ``nir_export`` (``export_nir``) writes a model as NIR.
- ``hw_config``: ``load_hw_config`` reads a target from ``hw_configs/`` (``HwConfig``).
- ``resource_map``: ``map_resources``, the cores and chips a netx network needs.
- ``design_rules``: ``check_design_rules``, every rule of a target at once
  (``DesignRuleError``), shared by ``rouser-export``, ``rouser-map`` and the board.
"""
