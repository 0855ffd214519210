"""Step 4, deployment: trained model -> Loihi fixed point -> a netx file for a target.

- ``quantize``: ``quantize_network`` (fold or vector thresholds) -> ``QuantizedNetwork``
  (:mod:`rouser_lava.netx.network`).
- ``export``: ``rouser-export``'s step (quantize, check the target's rules, write with
  :mod:`rouser_lava.netx.write`).
- ``hw_config``: ``load_hw_config`` reads a target from ``hw_configs/`` (``HwConfig``).
- ``resource_map``: ``map_resources``, the cores and chips a netx network needs.
- ``design_rules``: ``check_design_rules``, every rule of a target at once
  (``DesignRuleError``), shared by ``rouser-export``, ``rouser-map`` and the board.
"""
