"""Keras-syntax layer specs, as the classic RNN tutorials write them.

``spec`` parses a spec safely (``ast``, never ``eval``) and works out Keras's
output shapes and parameter counts (torch- and numpy-free, for ``summary
--spec``); ``initializers`` and ``forward`` build the weights the way Keras
does and run the layers on the numpy runtime (``rnntool layer``).
"""
