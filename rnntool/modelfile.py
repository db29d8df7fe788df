"""The single-file model format.

A model is one safetensors file: the weights as named float arrays (or, in a file
``rnntool quantize`` wrote, int8 arrays with per-row scales: rnntool/quantization.py), and a JSON
header (stored under the ``rnntool`` key of the safetensors metadata) with
everything else needed to use it::

    {"format": "rnntool-model", "format_version": 1, "kind": "lm" | "tagger" | "classifier" (rnntool.kinds),
     "config": {...architecture...}, "vocab": {...}, "tokenizer": {...},
     "training": {"command": ..., "data_sha256": ..., "metrics": {...}, ...},
     "rnntool_version": "0.1.0", "min_rnntool_version": "0.1.0", "created": "2026-11-23T10:00:00Z"}

``rnntool_version`` is the rnntool that wrote the file; ``min_rnntool_version`` is the
oldest rnntool that can read it (files written before the field existed lack it).

Version policy (docs/stability.md): every format version from ``OLDEST_READABLE_FORMAT``
up to ``MODEL_FORMAT_VERSION`` keeps loading, forever; a file of a newer (or unknown)
format version, or one whose ``min_rnntool_version`` is newer than this rnntool, is
refused in one line naming the rnntool it needs.

It loads with numpy alone (no torch, no pickle: nothing in it can run code) and
is written atomically, so an interrupted save leaves the previous file intact.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rnntool import __version__
from rnntool.errors import ModelFileError, WrongKindError
from rnntool.fsutil import atomic_write_bytes
from rnntool.kinds import KINDS, display_name

if TYPE_CHECKING:  # numpy is imported where tensors are: models and info read headers only
    import numpy as np

MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit on the JSON header
MODEL_FORMAT = "rnntool-model"
HEADER_KEY = "rnntool"

# The format version this rnntool writes. Bumping it means, in the same change: add an
# upgrade step for every older version (in load_model / read_header, turning an older
# header and tensors into the new layout) or a reader for it, so that files of
# OLDEST_READABLE_FORMAT..MODEL_FORMAT_VERSION all keep loading -- old model files load
# forever, and tests/test_modelfile.py loads the bundled ones -- and add the new version
# to FIRST_READER with the first release that reads it.
MODEL_FORMAT_VERSION = 2
OLDEST_READABLE_FORMAT = 1  # never raised: dropping a format would strand its files
# A writer uses the oldest format that holds what it writes, so that older releases keep
# reading every file they can: 1 for float weights, 2 for quantized ones (int8 tensors with
# per-row scales, or float16, and the header's "quantized" record: rnntool/quantization.py).
FORMAT_PLAIN = 1
FORMAT_QUANTIZED = 2
# format version -> the first rnntool release that reads it (written to the header as
# MIN_READER_FIELD, so that an older rnntool can say which version to upgrade to)
FIRST_READER = {1: "0.1.0", 2: "0.2.0"}
MIN_READER_FIELD = "min_rnntool_version"
UPGRADE_HINT = "pip install -U rnntool"


@dataclass
class ModelFile:
    header: dict
    tensors: dict[str, np.ndarray]  # float32 (a quantized file's weights turned back), what runtimes read
    path: Path | None = None
    stored: dict[str, np.ndarray] | None = None  # a quantized file's tensors as stored (None: ``tensors``)

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
        "format_version": FORMAT_PLAIN,
        "kind": kind,
        "rnntool_version": __version__,
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **header,
    }
    if MIN_READER_FIELD not in header and full["format_version"] in FIRST_READER:
        full[MIN_READER_FIELD] = FIRST_READER[full["format_version"]]
    import numpy as np

    arrays = {name: np.ascontiguousarray(a) for name, a in tensors.items()}
    data = save(arrays, metadata={HEADER_KEY: json.dumps(full, ensure_ascii=False)})
    atomic_write_bytes(path, data)


def _open(path: Path):
    from safetensors import SafetensorError, safe_open

    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    if path.is_dir():
        raise ModelFileError(f"{path} is a directory, not a model file")
    try:
        return safe_open(str(path), framework="np")
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"{path} is not an rnntool model file or is damaged ({e}); retrain or re-download it") from None


def _check_header(path: Path, metadata: dict | None, kind: str | None) -> dict:
    raw = (metadata or {}).get(HEADER_KEY)
    if raw is None:
        raise ModelFileError(f"{path} is a safetensors file but not an rnntool model (no rnntool header)")
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        raise ModelFileError(f"{path} has a damaged rnntool header; retrain or re-download it") from None
    if not isinstance(header, dict) or header.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path} is not an rnntool model file")
    # The format version decides what this rnntool can read (a bool is not a version:
    # JSON true == 1 in Python); min_rnntool_version lets a writer ask for a newer reader
    # without a new layout (say, for a new model kind) and names the rnntool to upgrade to.
    version = header.get("format_version")
    readable = type(version) is int and OLDEST_READABLE_FORMAT <= version <= MODEL_FORMAT_VERSION
    min_reader = header.get(MIN_READER_FIELD)
    if not readable or _newer_than_this(min_reader):
        raise ModelFileError(_too_new(path, header, min_reader if _newer_than_this(min_reader) else None))
    if kind is not None and header.get("kind") != kind:
        raise WrongKindError(f"{path} is a {display_name(header.get('kind'))}, but this command needs a "
                           f"{display_name(kind)}")
    return header


def _version_tuple(text) -> tuple[int, ...] | None:
    """(0, 2, 0) for "0.2.0" (a pre-release suffix such as "rc1" is ignored); None for
    anything that is not a short dotted version string -- a hostile header's value is
    never shown or compared."""
    if not isinstance(text, str) or not re.fullmatch(r"\d{1,6}(\.\d{1,6}){0,3}([.+-]?[A-Za-z0-9]{1,12})?", text):
        return None
    return tuple(int(part) for part in re.match(r"\d+(\.\d+)*", text).group().split("."))


def _newer_than_this(version) -> bool:
    """Whether ``version`` is a well-formed rnntool version newer than this one."""
    theirs, ours = _version_tuple(version), _version_tuple(__version__)
    return theirs is not None and ours is not None and theirs > ours


def _too_new(path: Path, header: dict, min_reader: str | None) -> str:
    """The one-line refusal of a file this rnntool cannot read: which format version it is,
    which rnntool it needs, which rnntool this is, and what to do."""
    if "format_version" not in header:
        shown = "(none recorded)"
    elif isinstance(header["format_version"], (list, dict)):
        shown = f"<a JSON {'list' if isinstance(header['format_version'], list) else 'object'}>"
    else:  # a number, string, true/false or null: as JSON, ASCII, kept short
        shown = json.dumps(header["format_version"], ensure_ascii=True)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
    needs = f"rnntool {min_reader} or newer" if min_reader is not None else "a newer rnntool"
    return (f"{path} is model format version {shown}, which needs {needs} (this is rnntool {__version__}); "
            f"upgrade with: {UPGRADE_HINT}")


def _data_end(table: dict, label: str) -> int:
    """Where the last tensor's bytes end, after the header, by the table's offsets."""
    end = 0
    for name, entry in table.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(o) is int and o >= 0 for o in offsets) or offsets[0] > offsets[1]):
            raise ModelFileError(f"{label} is damaged (a tensor without valid offsets); retrain or re-download it")
        end = max(end, offsets[1])
    return end


def _check_length(table: dict, header_size: int, actual: int, label: str) -> None:
    """A file cut short (a download or copy that stopped half-way) is refused by its length,
    before anything is read from it: the header alone would still look whole."""
    expected = 8 + header_size + _data_end(table, label)
    if actual < expected:
        raise ModelFileError(f"{label} is truncated: {actual:,} of {expected:,} bytes; "
                             "download or copy it again")


def _read_table(path: Path) -> dict:
    """The safetensors header of ``path``: tensor names -> dtype/shape/offsets, and
    ``__metadata__``. Read from the file's documented layout -- an 8-byte little-endian
    length, then that much JSON -- because safetensors' safe_open imports numpy, and
    ``models`` / ``info`` should start as fast as ``--help``."""
    if not path.exists():
        raise ModelFileError(f"{path}: no such model file")
    if path.is_dir():
        raise ModelFileError(f"{path} is a directory, not a model file")
    damaged = f"{path} is not an rnntool model file or is damaged; retrain or re-download it"
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            actual = os.fstat(f.fileno()).st_size
            if not 0 < size <= MAX_HEADER_BYTES or size + 8 > actual:
                raise ModelFileError(damaged)
            table = json.loads(f.read(size))
    except (OSError, ValueError, RecursionError):
        raise ModelFileError(damaged) from None
    if not isinstance(table, dict) or not isinstance(table.get("__metadata__", {}), dict):
        raise ModelFileError(damaged)
    _check_length(table, size, actual, str(path))
    return table


def read_header(path: str | os.PathLike, kind: str | None = None) -> dict:
    """Only the JSON header (cheap: the weights are not read)."""
    path = Path(path)
    return _check_header(path, _read_table(path).get("__metadata__"), kind)


def tensor_count(path: str | os.PathLike) -> int:
    """Numbers stored in a model file's tensors, from its header (the weights are not read)."""
    from rnntool.quantization import stored_numbers

    path = Path(path)
    try:
        return stored_numbers(_read_table(path))
    except (TypeError, KeyError):
        raise ModelFileError(f"{path} is damaged (a tensor without a shape); retrain or re-download it") from None


def load_model(path: str | os.PathLike, kind: str | None = None) -> ModelFile:
    """Load header and weights as numpy arrays; ``kind`` makes a wrong model kind an error."""
    from safetensors import SafetensorError

    path = Path(path)
    try:
        with _open(path) as f:
            header = _check_header(path, f.metadata(), kind)
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except (SafetensorError, OSError, ModelFileError) as e:
        # only when loading failed (the table is not parsed twice on the way that works): a file
        # cut short says so, "truncated: N of M bytes", rather than just "damaged"
        _read_table(path)
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"{path} is damaged ({e}); retrain or re-download it") from None
    return _model_file(header, tensors, path)


def _model_file(header: dict, tensors: dict, path: Path | None) -> ModelFile:
    """A loaded file: a quantized one's weights turned back into float32 for the runtimes."""
    from rnntool.quantization import HEADER_FIELD, dequantize

    if HEADER_FIELD not in header:
        return ModelFile(header, tensors, path)
    return ModelFile(header, dequantize(header, tensors), path, stored=tensors)


def load_model_bytes(data: bytes, kind: str | None = None, label: str = "the model bytes") -> ModelFile:
    """``load_model`` for a model file's contents held in memory (a pickled model, an upload)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    damaged = f"{label} are not an rnntool model file or are damaged; retrain or re-download it"
    size = int.from_bytes(data[:8], "little") if len(data) >= 8 else 0
    if not 0 < size <= MAX_HEADER_BYTES or size + 8 > len(data):
        raise ModelFileError(damaged)
    try:
        table = json.loads(data[8: 8 + size])
        if isinstance(table, dict):
            _check_length(table, size, len(data), label)
        metadata = table.get("__metadata__") if isinstance(table, dict) else None
        header = _check_header(Path(label), metadata if isinstance(metadata, dict) else None, kind)
        tensors = load(data)
    except (SafetensorError, ValueError, RecursionError, OSError):
        raise ModelFileError(damaged) from None
    return _model_file(header, tensors, None)


def model_bytes(model: ModelFile) -> bytes:
    """A loaded model's file contents again (its header and tensors as it was loaded), as
    ``load_model_bytes`` reads them: how a loaded model pickles."""
    from safetensors.numpy import save

    import numpy as np

    tensors = model.tensors if model.stored is None else model.stored
    arrays = {name: np.ascontiguousarray(a) for name, a in tensors.items()}
    return save(arrays, metadata={HEADER_KEY: json.dumps(model.header, ensure_ascii=False)})
