"""8- and 16-bit weights in a model file (``rnntool quantize``).

A quantized file stores its large matrices (embeddings, recurrent and output weights) as
int8 with one float32 scale per row -- symmetric, ``w ~= q * scale`` with ``q`` in
[-127, 127] and ``scale = max |row| / 127`` -- or every float tensor as float16. Vectors
and small matrices (biases, a CRF's transitions) stay float32: they are a sliver of the
bytes and the most sensitive numbers. Loading turns the weights back into float32
(``dequantize``), so every runtime, the ONNX export and ``--init-from`` read a quantized
file as they read any other: the file is smaller, the arithmetic is the same float32.

Writing one measures it first when dev data is given: the model's own metric (a tagger's
accuracy, or entity F1 for IOB tags; a classifier's accuracy; a language model's loss in
nats per token) with float32 and with the stored weights, on the same data. Past the bounds
below nothing is written and the error says what it cost; the measurement goes into the
header, which ``rnntool info`` shows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rnntool.errors import InputError

if TYPE_CHECKING:
    import numpy as np

WEIGHTS = ("int8", "fp16")
HEADER_FIELD = "quantized"  # the header's record: {"weights", "tensors", "scheme", "measured"?}
SCALE_SUFFIX = "::scale"  # int8 tensor NAME's per-row scales are NAME::scale (":" is in no torch name)
INT8_MIN_SIZE = 4096  # smaller matrices stay float32: few bytes, and a CRF's transitions among them
# What a quantized file may lose on its dev data against float32 (issue #27's bounds)
MAX_ACCURACY_DROP = 0.001  # taggers and classifiers: 0.1 point of accuracy (or entity F1)
MAX_LOSS_RISE = 0.01  # language models: nats per token (1% of perplexity is 0.00995)


def _is_float(a: np.ndarray) -> bool:
    return a.dtype.kind == "f"


def quantize_tensors(tensors: dict[str, np.ndarray], weights: str) -> tuple[dict[str, np.ndarray], list[str]]:
    """The tensors as a quantized file stores them, and the names of those stored at lower
    precision."""
    import numpy as np

    if weights not in WEIGHTS:
        raise InputError(f"unknown --weights {weights!r}; use one of: {', '.join(WEIGHTS)}")
    stored: dict[str, np.ndarray] = {}
    lowered: list[str] = []
    for name, a in tensors.items():
        if name.endswith(SCALE_SUFFIX):
            raise InputError(f"tensor {name!r} is already a scale: the model is quantized already")
        if not _is_float(a):
            stored[name] = a
        elif weights == "fp16":
            stored[name] = a.astype(np.float16)
            lowered.append(name)
        elif a.ndim >= 2 and a.size >= INT8_MIN_SIZE:
            rows = a.reshape(a.shape[0], -1).astype(np.float32)
            scale = np.abs(rows).max(axis=1) / 127.0
            scale[scale == 0] = 1.0  # an all-zero row (a padding embedding) stays zeros
            stored[name] = np.clip(np.rint(rows / scale[:, None]), -127, 127).astype(np.int8).reshape(a.shape)
            stored[name + SCALE_SUFFIX] = scale.astype(np.float32)
            lowered.append(name)
        else:
            stored[name] = a.astype(np.float32)
    return stored, lowered


def dequantize(header: dict, stored: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The float32 tensors a quantized file's stored ones stand for (what the runtimes read)."""
    import numpy as np

    from rnntool.errors import ModelFileError

    record = header.get(HEADER_FIELD)
    if not isinstance(record, dict) or record.get("weights") not in WEIGHTS:
        raise ModelFileError("the model's quantized weights are of an unknown kind; re-download or requantize it")
    out: dict[str, np.ndarray] = {}
    for name, a in stored.items():
        if name.endswith(SCALE_SUFFIX):
            continue
        if a.dtype == np.int8:
            scale = stored.get(name + SCALE_SUFFIX)
            if a.ndim < 2 or a.size == 0 or scale is None or scale.shape != (a.shape[0],):
                raise ModelFileError(f"the int8 tensor {name!r} has no scales of its shape; re-download or "
                                     "requantize the model")
            out[name] = (a.reshape(a.shape[0], -1).astype(np.float32) * scale[:, None]).reshape(a.shape)
        elif _is_float(a):
            out[name] = a.astype(np.float32)
        else:
            out[name] = a
    return out


def stored_numbers(table: dict) -> int:
    """The model's parameters among a safetensors table's entries (scales are not parameters)."""
    import math

    return sum(math.prod(entry["shape"]) for name, entry in table.items()
               if name != "__metadata__" and not name.endswith(SCALE_SUFFIX))


@dataclass(slots=True)
class Quantization:
    """A quantized model file written: where, at which precision, its size against the
    original's, and (with dev data) the metric with float32 and with the stored weights."""

    path: Path
    weights: str
    bytes_before: int
    bytes_after: int
    tensors: int  # how many tensors are stored at lower precision
    measured: dict | None = None  # {"data", "metric", "fp32", "quantized", "cost", "bound"}

    def to_dict(self) -> dict[str, Any]:
        out = {"path": str(self.path), "weights": self.weights, "bytes_before": self.bytes_before,
               "bytes_after": self.bytes_after, "tensors": self.tensors}
        if self.measured is not None:
            out["measured"] = dict(self.measured)
        return out


def _metric(model, data, options: dict) -> tuple[str, float]:
    """The model's metric on ``data``: what quantizing may not lose."""
    result = model.evaluate(data, **options)
    if model.kind == "lm":
        return "loss", result.loss
    spans = result.metrics.get("spans") if model.kind == "tagger" else None
    return ("entity_f1", spans["f1"]) if spans else ("accuracy", result.accuracy)


def measure(original, quantized, data, options: dict) -> dict:
    """The metric of both models on the same data, and whether what the quantized weights cost (worse: positive) is within bounds."""
    import logging

    name, before = _metric(original, data, options)
    log = logging.getLogger("rnntool")
    level = log.level
    log.setLevel(logging.WARNING)  # how the data is read was said once, by the first reading
    try:
        _, after = _metric(quantized, data, options)
    finally:
        log.setLevel(level)
    if name == "loss":
        cost, bound = after - before, MAX_LOSS_RISE
    else:
        cost, bound = before - after, MAX_ACCURACY_DROP
    return {"data": os.path.basename(os.fspath(data)), "metric": name, "fp32": before, "quantized": after,
            "cost": cost, "bound": bound, "within": bool(cost <= bound)}


def quantize(model: str | os.PathLike, output: str | os.PathLike | None = None, *, weights: str = "int8",
             dev: str | os.PathLike | None = None, **options) -> Quantization:
    """Write ``model`` (a file or bundled name) with ``weights`` ("int8" or "fp16") to
    ``output`` (default: beside the working directory, the model's name with ``.WEIGHTS``).
    With ``dev`` (what the kind's ``evaluate`` reads; ``options`` are its keywords) both
    models are measured first, and past the bound (0.1 point of accuracy or F1, 0.01 nats per
    token) nothing is written: an ``InputError`` says what the weights cost."""
    from rnntool.api.loading import load
    from rnntool.fsutil import atomic_write_bytes
    from rnntool.modelfile import FIRST_READER, FORMAT_QUANTIZED, MIN_READER_FIELD, ModelFile, model_bytes
    from rnntool.userstate import locate

    source = Path(locate(os.fspath(model)))
    original = load(source)
    file = original._runtime.model_file
    if HEADER_FIELD in file.header:
        raise InputError(f"{model} is quantized already ({file.header[HEADER_FIELD].get('weights')}); "
                         "quantize the float32 model it came from")
    stored, lowered = quantize_tensors(file.tensors, weights)
    header = {**file.header, "format_version": FORMAT_QUANTIZED,
              HEADER_FIELD: {"weights": weights, "tensors": len(lowered),
                             "scheme": "per-row symmetric int8, float32 scales" if weights == "int8" else "float16"}}
    header[MIN_READER_FIELD] = FIRST_READER[FORMAT_QUANTIZED]  # an older rnntool refuses it in one line
    data = model_bytes(ModelFile(header, stored, None))
    if dev is not None:
        quantized = load(data)
        header[HEADER_FIELD]["measured"] = result = measure(original, quantized, dev, options)
        if not result["within"]:
            what = "nats per token" if result["metric"] == "loss" else "points"
            scale = 1 if result["metric"] == "loss" else 100
            raise InputError(f"{weights} weights cost {scale * result['cost']:.4g} {what} of {result['metric']} "
                             f"on {result['data']} ({scale * result['fp32']:.4g} -> {scale * result['quantized']:.4g}; "
                             f"the bound is {scale * result['bound']:g}); nothing written: try --weights fp16")
        data = model_bytes(ModelFile(header, stored, None))
    if output is None:
        output = Path(f"{source.name.removesuffix('.safetensors')}.{weights}.safetensors")
    output = Path(output)
    if output.resolve() == source.resolve():
        raise InputError(f"-o {output} is the model itself; write the quantized model to another file")
    atomic_write_bytes(output, data)
    return Quantization(output, weights, source.stat().st_size, len(data), len(lowered),
                        header[HEADER_FIELD].get("measured"))
