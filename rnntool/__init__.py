"""rnntool: recurrent-network text models from the command line and from Python.

The package imports nothing heavy at the top level: torch is only imported by
the modules that train (``rnntool.nn``, ``rnntool.train``).
"""

__version__ = "0.1.0"

from rnntool.errors import RnntoolError

__all__ = ["RnntoolError", "__version__"]
