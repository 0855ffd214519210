"""Step 7, experiments: the Rouser paper's learned-vs-fixed and threshold-grid runs, and
the single-spike paper's savings.

- ``runs``: training (and optionally deploying) many runs, in worker processes.
- ``neurons``: the same architecture with cuba and single-spike neurons, deployed and
  measured (accuracy, spikes and synaptic operations per sample).
- ``report``: their report and plots.
- ``ablation`` and ``ablation_report``: the Rouser paper's Fig. 6 protocol over seeds,
  epochs chosen on validation, a paired test per setting; its report and plots.
"""
