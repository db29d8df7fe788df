"""The single-file model format.

A model is one safetensors file: the weights as named float arrays, and a JSON
header (stored under the ``rnntool`` key of the safetensors metadata) with
everything else needed to use it::

    {"format": "rnntool-model", "format_version": 1, "kind": "lm" | "tagger" (rnntool.kinds),
     "config": {...architecture...}, "vocab": {...}, "tokenizer": {...},
     "training": {"command": ..., "data_sha256": ..., "metrics": {...}, ...},
     "rnntool_version": "0.1.0", "created": "2026-11-23T10:00:00Z"}

It loads with numpy alone (no torch, no pickle: nothing in it can run code) and
is written atomically, so an interrupted save leaves the previous file intact.
"""

from __future__ import annotations

import datetime
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rnntool import __version__
from rnntool.errors import RnntoolError
from rnntool.fsutil import atomic_write_bytes
from rnntool.kinds import KINDS, display_name

if TYPE_CHECKING:  # numpy is imported where tensors are: models and info read headers only
    import numpy as np

MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit on the JSON header
MODEL_FORMAT = "rnntool-model"
MODEL_FORMAT_VERSION = 1
HEADER_KEY = "rnntool"


@dataclass
class ModelFile:
    header: dict
    tensors: dict[str, np.ndarray]
    path: Path | None = None

    @property
    def kind(self) -> str:
        return self.header["kind"]

    @property
    def config(self) -> dict:
        return self.header.get("config", {})


def save_model(path: str | os.PathLike, kind: str, tensors: dict[str, np.ndarray], header: dict) -> None:
    """Write a model file atomically. ``header`` supplies config/vocab/tokenizer/training."""
    from safetensors.numpy import save

    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}")
    full = {
        "format": MODEL_FORMAT,
        "format_version": MODEL_FORMAT_VERSION,
        "kind": kind,
        "rnntool_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **header,
    }
    import numpy as np

    arrays = {name: np.ascontiguousarray(a) for name, a in tensors.items()}
    data = save(arrays, metadata={HEADER_KEY: json.dumps(full, ensure_ascii=False)})
    atomic_write_bytes(path, data)


def _open(path: Path):
    from safetensors import SafetensorError, safe_open

    if not path.exists():
        raise RnntoolError(f"{path}: no such model file")
    if path.is_dir():
        raise RnntoolError(f"{path} is a directory, not a model file")
    try:
        return safe_open(str(path), framework="np")
    except (SafetensorError, OSError, ValueError) as e:
        raise RnntoolError(f"{path} is not an rnntool model file or is damaged ({e}); retrain or re-download it") from None


def _check_header(path: Path, metadata: dict | None, kind: str | None) -> dict:
    raw = (metadata or {}).get(HEADER_KEY)
    if raw is None:
        raise RnntoolError(f"{path} is a safetensors file but not an rnntool model (no rnntool header)")
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        raise RnntoolError(f"{path} has a damaged rnntool header; retrain or re-download it") from None
    if not isinstance(header, dict) or header.get("format") != MODEL_FORMAT:
        raise RnntoolError(f"{path} is not an rnntool model file")
    version = header.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise RnntoolError(
            f"{path} uses model format version {version}; this rnntool {__version__} reads version "
            f"{MODEL_FORMAT_VERSION} (upgrade rnntool or retrain the model)"
        )
    if kind is not None and header.get("kind") != kind:
        raise RnntoolError(f"{path} is a {display_name(header.get('kind'))}, but this command needs a "
                           f"{display_name(kind)}")
    return header


def _read_table(path: Path) -> dict:
    """The safetensors header of ``path``: tensor names -> dtype/shape/offsets, and
    ``__metadata__``. Read from the file's documented layout -- an 8-byte little-endian
    length, then that much JSON -- because safetensors' safe_open imports numpy, and
    ``models`` / ``info`` should start as fast as ``--help``."""
    if not path.exists():
        raise RnntoolError(f"{path}: no such model file")
    if path.is_dir():
        raise RnntoolError(f"{path} is a directory, not a model file")
    damaged = f"{path} is not an rnntool model file or is damaged; retrain or re-download it"
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 0 < size <= MAX_HEADER_BYTES or size + 8 > os.fstat(f.fileno()).st_size:
                raise RnntoolError(damaged)
            table = json.loads(f.read(size))
    except (OSError, ValueError, RecursionError):
        raise RnntoolError(damaged) from None
    if not isinstance(table, dict) or not isinstance(table.get("__metadata__", {}), dict):
        raise RnntoolError(damaged)
    return table


def read_header(path: str | os.PathLike, kind: str | None = None) -> dict:
    """Only the JSON header (cheap: the weights are not read)."""
    path = Path(path)
    return _check_header(path, _read_table(path).get("__metadata__"), kind)


def tensor_count(path: str | os.PathLike) -> int:
    """Numbers stored in a model file's tensors, from its header (the weights are not read)."""
    path = Path(path)
    try:
        return sum(math.prod(entry["shape"]) for name, entry in _read_table(path).items() if name != "__metadata__")
    except (TypeError, KeyError):
        raise RnntoolError(f"{path} is damaged (a tensor without a shape); retrain or re-download it") from None


def load_model(path: str | os.PathLike, kind: str | None = None) -> ModelFile:
    """Load header and weights as numpy arrays; ``kind`` makes a wrong model kind an error."""
    from safetensors import SafetensorError

    path = Path(path)
    try:
        with _open(path) as f:
            header = _check_header(path, f.metadata(), kind)
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError) as e:
        raise RnntoolError(f"{path} is damaged ({e}); retrain or re-download it") from None
    return ModelFile(header, tensors, path)
