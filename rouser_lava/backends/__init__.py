"""Step 5, running: one result type for the trained model and the deployed network.

- ``run``: ``RunResult``, ``run_backend`` and the torch, emulator and Lava backends.
- ``emulator``, ``emu_synapse``, ``emu_kernels``: bit-exact batched emulator of Lava's
  fixed_pt netx models (``emu_synapse``: its event-driven synaptic sums; the file
  layouts netx reads are in ``rouser_lava.netx.layers``).
- ``lava_sim``, ``lava_io``: Lava's CPU simulator, streaming samples through one network;
  ``lava_refractory``: our fixed-point ``LIFRefractory`` model (single-spike layers).
- ``stream``: the stream layout of a board (samples back to back, ``LIFReset``).
- ``lava_guard``: a Lava run ends on Ctrl-C, a time limit or a dead worker; progress.
- ``lava_workers``: ``simulate_parallel``, the samples split over K Lava worker processes.
- ``runfile``: ``rouser-run``'s step (a model or netx file over a dataset, raw spikes or
  bias images).
- ``activity``: spikes, sparsity and synaptic operations per sample (``rouser-map``).
"""
