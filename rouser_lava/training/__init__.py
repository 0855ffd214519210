"""Step 3, training: the loop, per-epoch metrics, run files and presets.

- ``loop``: ``TrainConfig``, ``train``, ``evaluate``, learning-rate schedules.
- ``metrics``: dead neurons, spike rates, threshold statistics, weight change.
- ``trainrun``: ``rouser-train``'s run files, checkpoints and resume.
- ``distributed``: data-parallel training over processes (torchrun, DDP).
- ``presets``: the papers' settings by dataset.
"""
