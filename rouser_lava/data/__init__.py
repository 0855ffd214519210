"""Step 1, data: spike tensors ``(N, *input_shape, T)`` with labels.

- ``dataset``: ``SpikeDataset``, rate coding, the built-in scikit-learn digits.
- ``yinyang``: the Yin-Yang dataset generated from its published definition.
- ``events``, ``layouts``: readers of the released N-MNIST, SHD and DVS128 files; folder checks.
- ``binning``, ``event_data``: events to spikes, the binned-sample cache.
- ``registry``: every dataset by name (``load_dataset``, ``dataset_for``).
"""
