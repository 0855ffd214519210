"""Step 6, comparison: the trained model against its deployed network.

- ``compare``: ``compare``, per-layer and per-neuron spike counts, the first divergence.
- ``gates``: ``--fail-on`` limits.
- ``report``: ``report.json``, ``report.md`` and plots.
"""
