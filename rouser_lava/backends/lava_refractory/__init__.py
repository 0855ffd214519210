"""A fixed-point process model for Lava's ``LIFRefractory`` (Lava ships only a
floating-point one). Keep nothing else here: while looking for process models,
Lava's compiler executes every ``.py`` file in a process's folder."""
