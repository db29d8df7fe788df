"""numpy inference: recurrent cells with torch's weight layouts, language-model
stepping, sampling, tagging. Nothing here imports torch."""

from __future__ import annotations


def load_runtime(cls, path, kind: str):
    """``cls(model)`` for the model file at ``path`` (of ``kind``), checked as ``check_runtime`` says."""
    from rnntool.modelfile import load_model

    return check_runtime(cls, load_model(path, kind=kind), str(path))


def check_runtime(cls, model, label: str):
    """``cls(model)`` for a loaded ModelFile, checked: no NaN or infinite weights, and one
    tiny forward pass (``cls.probe``) so that tensors whose shapes disagree with the
    configuration, or a vocabulary that does not fit them, fail here in one line naming the
    file (``label``) rather than later in the middle of a matrix product."""
    import numpy as np

    from rnntool.errors import ModelFileError, RnntoolError

    for name, tensor in model.tensors.items():
        if tensor.dtype.kind == "f" and not np.isfinite(tensor).all():
            raise ModelFileError(f"{label} has NaN or infinite weights ({name}); retrain or re-download it")
    try:
        runtime = cls(model)
        runtime.probe()
    except RnntoolError as e:
        raise ModelFileError(f"{label}: {e}") from None
    except (KeyError, ValueError, IndexError, TypeError, AttributeError) as e:
        raise ModelFileError(f"{label} is damaged: its weights do not fit its configuration ({type(e).__name__}: "
                             f"{e}); retrain or re-download it") from None
    return runtime
