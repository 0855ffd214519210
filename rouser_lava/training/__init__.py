"""Step 3, training: the loop, per-epoch metrics, run files and presets.

- ``settings``: ``TrainSettings``, every setting of a run, validated once.
- ``loop``: ``TrainConfig``, ``train``, ``evaluate``, learning-rate schedules.
- ``metrics``: dead neurons, spike rates, threshold statistics, weight change.
- ``tboard``: the per-epoch metrics as TensorBoard events (``--tensorboard``).
- ``trainrun``: ``train_run`` and ``resume_run``: a run's files, checkpoints and resume.
- ``distributed``: data-parallel training over processes (torchrun, DDP).
- ``presets``: the papers' settings by dataset; ``resolve`` gives a run's settings.
"""
