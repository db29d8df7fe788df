"""The corpus registry: names, sources, licences and checksums of public corpora,
and downloading them with verification; and the small sample corpora that ship
with rnntool (``samples/``, listed in ``samples.json``).

This directory is the repository's top-level ``corpora/``, installed as the
package ``rnntool.corpora`` (pyproject.toml maps it), so a wheel carries it. Public
(docs/stability.md): the names in ``__all__``."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from rnntool.errors import RnntoolError
from rnntool.fsutil import check_output_path

CHUNK = 1 << 16

__all__ = ["CorpusFile", "CorpusEntry", "Sample", "registry", "samples", "get_sample", "get_entry", "sha256_file", "fetch"]


@dataclass(frozen=True)
class CorpusFile:
    name: str
    url: str
    size: int
    sha256: str


@dataclass(frozen=True)
class CorpusEntry:
    name: str
    description: str
    use: str
    licence: str
    source: str
    files: tuple[CorpusFile, ...] = ()
    nltk: str | None = None  # installed through nltk.download instead of a URL

    @property
    def size(self) -> int | None:
        return sum(f.size for f in self.files) if self.files else None


def registry() -> dict[str, CorpusEntry]:
    data = json.loads(resources.files(__package__).joinpath("registry.json").read_text(encoding="utf-8"))
    entries = {}
    for name, info in data.items():
        files = tuple(CorpusFile(**f) for f in info.pop("files", []))
        entries[name] = CorpusEntry(name=name, files=files, **info)
    return entries


@dataclass(frozen=True)
class Sample:
    name: str
    path: Path
    description: str
    licence: str


def samples() -> dict[str, Sample]:
    """The sample corpora shipped in the package, with their installed paths."""
    base = resources.files(__package__)
    data = json.loads(base.joinpath("samples.json").read_text(encoding="utf-8"))
    return {name: Sample(name, Path(str(base.joinpath("samples", info["file"]))), info["description"], info["licence"])
            for name, info in data.items()}


def get_sample(name: str) -> Sample:
    found = samples()
    if name not in found:
        raise RnntoolError(f"unknown sample {name!r}; known: {', '.join(found)} (see rnntool corpus samples)")
    return found[name]


def get_entry(name: str) -> CorpusEntry:
    entries = registry()
    if name not in entries:
        raise RnntoolError(f"unknown corpus {name!r}; known: {', '.join(entries)} (see rnntool corpus list)")
    return entries[name]


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


# Called as progress(file, bytes_so_far, total_bytes) while downloading.
FetchProgress = Callable[[CorpusFile, int, int], None]


def fetch(
    name: str,
    directory: str | os.PathLike,
    mirror: str | None = None,
    progress: FetchProgress | None = None,
) -> list[Path]:
    """Download every file of corpus ``name`` into ``directory/name`` and verify
    its sha256. Files already there with the right checksum are kept; a file
    is only moved into place once verified, so a failed fetch leaves nothing
    half-written. ``mirror`` replaces the upstream URLs by ``<mirror>/<name>/<file>``."""
    entry = get_entry(name)
    _make_directory(Path(directory))
    if entry.nltk:
        return [_fetch_nltk(entry, directory)]
    target = check_output_path(Path(directory) / name)
    _make_directory(target)
    paths = []
    for file in entry.files:
        dest = target / file.name
        if dest.exists() and sha256_file(dest) == file.sha256:
            paths.append(dest)
            continue
        url = f"{mirror.rstrip('/')}/{name}/{file.name}" if mirror else file.url
        _download_verified(url, dest, file, progress)
        paths.append(dest)
    return paths


def _download_verified(url: str, dest: Path, file: CorpusFile, progress: FetchProgress | None) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        h = hashlib.sha256()
        done = 0
        try:
            with urllib.request.urlopen(url, timeout=60) as response, os.fdopen(fd, "wb") as out:
                total = int(response.headers.get("Content-Length") or file.size)
                for block in iter(lambda: response.read(CHUNK), b""):
                    out.write(block)
                    h.update(block)
                    done += len(block)
                    if progress:
                        progress(file, done, total)
                out.flush()
                os.fsync(out.fileno())
        except (urllib.error.URLError, OSError, ValueError) as e:
            reason = getattr(e, "reason", e)
            raise RnntoolError(f"could not download {url}: {reason}; check the network or use --mirror") from None
        if h.hexdigest() != file.sha256:
            raise RnntoolError(
                f"{file.name} from {url} failed its checksum (sha256 {h.hexdigest()[:16]}..., expected "
                f"{file.sha256[:16]}...); nothing was saved, try again or another --mirror"
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _make_directory(directory: Path) -> None:
    """Create ``directory`` and its parents as every download tool does (``--dir data`` on a
    fresh checkout); a file in the way or no permission is a one-line error."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise RnntoolError(f"cannot download into {directory}: it is a file, not a directory") from None
    except OSError as e:
        raise RnntoolError(f"cannot create the directory {directory}: {e.strerror or e}") from None


def _fetch_nltk(entry: CorpusEntry, directory: str | os.PathLike) -> Path:
    import nltk

    target = check_output_path(Path(directory) / "nltk_data")
    ok = nltk.download(entry.nltk, download_dir=str(target), quiet=True, raise_on_error=False)
    if not ok:
        raise RnntoolError(
            f"nltk.download({entry.nltk!r}) failed (no network?); on a machine with internet run "
            f"python -c \"import nltk; nltk.download('{entry.nltk}')\""
        )
    return target
