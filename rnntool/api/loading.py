"""``rnntool.load`` and what every loaded model shares.

A loaded model is the numpy runtime of its kind behind a small public class
(``LanguageModel``, ``Tagger``, ``Classifier``). It is safe to use from several
threads (a tagger's or classifier's call holds the model's lock while it computes: their
runtimes keep per-word-type caches that a concurrent call must not see half-grown; a
language model's calls keep their own state and need none), and it pickles
as its model file's contents -- a few MB, not the arrays the runtime derived from
them -- so ``multiprocessing``, ``concurrent.futures``, Dask, Ray and Spark workers
load it once each.
"""

from __future__ import annotations

import os
import collections
import threading
from pathlib import Path
from typing import Any, ClassVar

from rnntool.errors import ModelFileError

ModelSource = str | os.PathLike | bytes | bytearray | memoryview


class Model:
    """A loaded rnntool model (the base of ``LanguageModel``, ``Tagger`` and ``Classifier``)."""

    kind: ClassVar[str] = ""

    def __init__(self, runtime: Any, *, name: str | None = None, path: Path | None = None,
                 chosen_because: str | None = None):
        self._runtime = runtime
        self._lock = _lock_of(runtime)
        self.name = name  #: the bundled model's name, when it is one
        self.path = path  #: the file it was loaded from (None: loaded from bytes)
        self.chosen_because = chosen_because  #: why ``load(kind=...)`` chose it, when nothing was named

    @property
    def header(self) -> dict:
        """The model file's JSON header: configuration, vocabulary, training record."""
        return self._runtime.model_file.header

    @property
    def training(self) -> dict:
        """The training record: command, data checksum, metrics, versions."""
        return self.header.get("training", {})

    def __repr__(self) -> str:
        where = self.name or (str(self.path) if self.path else "<bytes>")
        return f"<rnntool.{type(self).__name__} {where}>"

    def __reduce__(self):
        from rnntool.modelfile import model_bytes

        return _unpickle, (model_bytes(self._runtime.model_file), self.name,
                           None if self.path is None else str(self.path))


# The last few models unpickled in this process, by their contents: a Dask or Spark worker
# that receives the same model with every task (in a closure) loads it once, not once per task
# (each unpickling still gets its own Model object; they share the runtime and its lock).
_UNPICKLED: collections.OrderedDict = collections.OrderedDict()
UNPICKLED_KEPT = 4
_UNPICKLED_LOCK = threading.Lock()


def _lock_of(runtime) -> threading.RLock:
    """The lock of a runtime, shared by every Model wrapping it (its caches are the runtime's)."""
    with _UNPICKLED_LOCK:
        lock = getattr(runtime, "_api_lock", None)
        if lock is None:
            lock = runtime._api_lock = threading.RLock()
        return lock


def _unpickle(data: bytes, name: str | None, path: str | None) -> Model:
    """A Model for pickled bytes: a new wrapper (its own name and path), around the runtime
    already loaded from the same bytes in this process when there is one."""
    import hashlib

    key = hashlib.sha256(data).hexdigest()
    with _UNPICKLED_LOCK:
        loaded = _UNPICKLED.get(key)
        if loaded is not None:
            _UNPICKLED.move_to_end(key)
    if loaded is None:  # loaded outside the lock: other models unpickle meanwhile
        loaded = load(data)
        with _UNPICKLED_LOCK:
            loaded = _UNPICKLED.setdefault(key, loaded)
            _UNPICKLED.move_to_end(key)
            while len(_UNPICKLED) > UNPICKLED_KEPT:
                _UNPICKLED.popitem(last=False)
    return type(loaded)(loaded._runtime, name=name, path=None if path is None else Path(path))


def _public_class(kind: str) -> type[Model]:
    from rnntool.kinds import get_kind

    return get_kind(kind).load("api")


def load(source: ModelSource | None = None, *, kind: str | None = None) -> Model:
    """Load a model: a bundled model's name (``"sms-spam"``), a model file's path, or a
    model file's bytes. The kind comes from the file's header; ``kind`` ("lm", "tagger",
    "classifier") makes another kind an error (:class:`~rnntool.errors.WrongKindError`).

    With no ``source``, ``kind`` chooses the model the CLI would use: your latest trained
    model of that kind, else the kind's environment variable (``$RNNTOOL_TAGGER``...),
    else its bundled default; ``model.chosen_because`` says which.
    """
    from rnntool.kinds import bundled_model, get_kind
    from rnntool.modelfile import load_model, load_model_bytes, read_header
    from rnntool.runtime import check_runtime

    chosen_because = None
    if isinstance(source, (bytes, bytearray, memoryview)):
        model_file = load_model_bytes(bytes(source), kind)
        cls = _public_class(model_file.kind)
        return cls(check_runtime(get_kind(model_file.kind).load("runtime"), model_file, "the model bytes"))
    if source is None:
        if kind is None:
            raise TypeError("load() needs a model (a bundled name, a path or bytes) or kind=")
        from rnntool.userstate import resolve_model

        row = get_kind(kind)
        path_text, chosen_because = resolve_model(kind, None)
        if not path_text:
            bundled = ", ".join(b.name for b in row.bundled)
            raise ModelFileError(f"no {row.display}: train one with rnntool {row.train_command} or pass -m MODEL"
                                 + (f" (bundled: {bundled})" if bundled else ""))
        source = path_text
    text = os.fspath(source)
    named = bundled_model(text) if isinstance(text, str) else None
    if named is not None and not Path(text).exists():
        path, name = named[1].path, named[1].name
    else:
        path, name = Path(text), None
        if chosen_because and chosen_because.startswith("the bundled model "):
            name = chosen_because.removeprefix("the bundled model ")
    file_kind = read_header(path, kind)["kind"]
    model_file = load_model(path, file_kind)
    runtime = check_runtime(get_kind(file_kind).load("runtime"), model_file, str(path))
    return _public_class(file_kind)(runtime, name=name, path=path, chosen_because=chosen_because)


def bundled_names(kind: str | None = None) -> list[str]:
    """The names ``load`` accepts for the models that ship with rnntool (of one kind, or all)."""
    from rnntool.kinds import KINDS

    return [b.name for k in KINDS.values() if kind in (None, k.name) for b in k.bundled if b.path.is_file()]
