"""Lava processes of our own. Keep nothing else here: while looking for process
models, Lava's compiler executes every ``.py`` file in a process's folder."""
