"""Step 2, the trainable model: the Rouser CUBA neuron, blocks and the model file.

- ``neuron``, ``cuba_kernels``: integer CUBA dynamics with per-neuron learnable
  thresholds (``NeuronConfig``, ``RouserCuba``); compiled CPU kernels.
- ``blocks``: ``Dense``, ``Conv``, ``Flatten`` on slayer synapses; ``RouserNet``.
- ``fold``: the Loihi 2 fold and Lava's integer weight arithmetic (fold-exact training).
- ``modelfile``: ``model.pt`` (``save_model``, ``load_model``).
"""
