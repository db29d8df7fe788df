"""numpy inference: recurrent cells with torch's weight layouts, language-model
stepping, sampling, tagging. Nothing here imports torch."""

from __future__ import annotations

from collections.abc import Callable


def load_runtime(cls, path, kind: str, probe: Callable):
    """``cls(model)`` for the model file at ``path``, checked: no NaN or infinite weights,
    and one tiny forward pass (``probe``) so that tensors whose shapes disagree with the
    configuration, or a vocabulary that does not fit them, fail here in one line naming the
    file rather than later in the middle of a matrix product."""
    import numpy as np

    from rnntool.errors import RnntoolError
    from rnntool.modelfile import load_model

    model = load_model(path, kind=kind)
    for name, tensor in model.tensors.items():
        if tensor.dtype.kind == "f" and not np.isfinite(tensor).all():
            raise RnntoolError(f"{path} has NaN or infinite weights ({name}); retrain or re-download it")
    try:
        runtime = cls(model)
        probe(runtime)
    except RnntoolError as e:
        raise RnntoolError(f"{path}: {e}") from None
    except (KeyError, ValueError, IndexError, TypeError, AttributeError) as e:
        raise RnntoolError(f"{path} is damaged: its weights do not fit its configuration ({type(e).__name__}: {e}); "
                           "retrain or re-download it") from None
    return runtime
