"""Step 4, deployment: trained model -> Loihi fixed point -> netx HDF5.

- ``quantize``: ``quantize_network`` (fold or vector thresholds) -> ``QuantizedNetwork``.
- ``export``: ``write_netx``, ``read_metadata``, and ``rouser-export``'s step.
- ``netx_check``: the validator every netx reader runs first.
- ``hw_limits``: Loihi 2 limits from ``hw_configs/`` and the design-rule checks.
"""
