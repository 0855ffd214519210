"""Step 2, the trainable model: the Rouser CUBA neuron, blocks and the model file.

- ``neuron``, ``cuba_kernels``: integer CUBA dynamics with per-neuron learnable
  thresholds (``NeuronConfig``, ``RouserCuba``); compiled CPU kernels.
- ``blocks``: ``Dense``, ``Conv``, ``Pool``, ``Flatten`` on slayer synapses;
  ``RouserNet``. ``recurrent``: ``Recurrent`` (netx ``dense_rec``). ``synapse``: the
  weight grid, the fold, biases and the one-step delay every block shares.
- ``archspec``: the ``--arch`` grammar (``parse_arch``, ``format_arch``).
- ``fold``: the Loihi 2 fold and Lava's integer weight arithmetic (fold-exact training).
- ``modelfile``: ``model.pt`` (``save_model``, ``load_model``).
"""
