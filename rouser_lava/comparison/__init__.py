"""Step 6, comparison: the trained model against its deployed network.

- ``compare``: ``compare``, per-layer and per-neuron spike counts, synaptic operations
  per sample, the first divergence, a membrane readout's logits.
- ``gates``: ``--fail-on`` limits.
- ``report``: ``report.json``, ``report.md`` and plots.
"""
