"""Step 7, experiments: the Rouser paper's learned-vs-fixed and threshold-grid runs.

- ``runs``: training (and optionally deploying) many runs, in worker processes.
- ``report``: their report and plots.
"""
