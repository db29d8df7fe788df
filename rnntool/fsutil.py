"""Writing files so that an interrupted write never destroys what was there."""

from __future__ import annotations

import errno
import fnmatch
import glob
import os
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from rnntool.errors import RnntoolError


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail early, with a useful message, when ``path`` cannot be written."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.exists():
        raise RnntoolError(f"output directory {parent} does not exist; create it first or choose another path")
    if not parent.is_dir():
        raise RnntoolError(f"cannot write {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK):
        raise RnntoolError(f"cannot write {path}: no permission to write in {parent}")
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def make_temp(path: Path) -> tuple[int, str]:
    """A temporary file beside ``path`` (same file system, so the final rename is atomic)."""
    try:
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise RnntoolError(f"cannot write {path}: {e.strerror or e}") from None


# Fault injection (tests/test_faults.py): hold every write open this long before its rename,
# so that a kill at a random moment lands inside a write as often as the test needs.
_WRITE_PAUSE = float(os.environ.get("RNNTOOL_FAULT_WRITE_PAUSE", "0") or 0)
_writes_seen: dict[str, int] = {}


def injected_kill(path: Path) -> None:
    """Fault injection (tests/test_faults.py): ``RNNTOOL_FAULT_KILL_IN_WRITE=N:GLOB`` kills
    this process (SIGKILL, nothing runs after it) inside its N-th write of a file whose name
    matches GLOB, once the new bytes are in the temporary file but before they are synced and
    renamed over the old file: a kill that lands inside a write every time, not by luck of
    timing."""
    spec = os.environ.get("RNNTOOL_FAULT_KILL_IN_WRITE")
    if not spec:
        return
    count, _, pattern = spec.partition(":")
    if not count.isdigit():
        raise RnntoolError(f"RNNTOOL_FAULT_KILL_IN_WRITE={spec!r}: write N:GLOB (kill in the N-th write of GLOB)")
    if fnmatch.fnmatch(path.name, pattern or "*"):
        _writes_seen[pattern] = _writes_seen.get(pattern, 0) + 1
        if _writes_seen[pattern] == int(count):
            os.kill(os.getpid(), signal.SIGKILL)


def injected_fault(path: str | os.PathLike) -> None:
    """Fault injection (tests/test_write_faults.py): ``RNNTOOL_FAULT_WRITE_ERROR=ENOSPC:GLOB``
    makes every write to a file whose name matches GLOB fail with that errno, as a full
    disk or a failing one (EIO) would."""
    spec = os.environ.get("RNNTOOL_FAULT_WRITE_ERROR")
    if not spec:
        return
    name, _, pattern = spec.partition(":")
    if fnmatch.fnmatch(Path(path).name, pattern or "*"):
        code = getattr(errno, name, errno.EIO)
        raise OSError(code, os.strerror(code), str(path))


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write ``path`` through ``write(file)`` into a temporary file beside it, then
    fsync, rename over ``path`` and fsync the directory: readers see the old file or
    the new one, never a torn one, and a failed write leaves no temporary file."""
    path = check_output_path(path)
    if path.is_dir():
        raise RnntoolError(f"cannot write {path}: it is a directory")
    fd, tmp = make_temp(path)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes the file private; outputs should not be
        with os.fdopen(fd, "wb") as f:
            write(f)
            injected_fault(path)
            if _WRITE_PAUSE:
                f.flush()
                time.sleep(_WRITE_PAUSE)
            f.flush()
            injected_kill(path)
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):
            raise RnntoolError(f"cannot write {path}: {e.strerror or e}") from None
        raise
    _fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


class AtomicDirectory:
    """Build a directory under a temporary name and move it into place on success.

    ``replace_if`` decides whether an existing directory at the destination may be
    replaced (for example: only if it is an earlier output of the same command);
    it is checked before any work starts.
    """

    def __init__(self, path: str | os.PathLike, replace_if=None, what: str = "output"):
        self.path = check_output_path(path)
        if self.path.exists():
            if not self.path.is_dir() or replace_if is None or not replace_if(self.path):
                raise RnntoolError(
                    f"{self.path} already exists and is not an rnntool {what}; "
                    "remove it or choose another output path"
                )
        self.tmp: Path | None = None

    def __enter__(self) -> Path:
        try:
            self.tmp = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent))
        except OSError as e:
            raise RnntoolError(f"cannot write {self.path}: {e.strerror or e}") from None
        os.chmod(self.tmp, 0o777 & ~_umask())  # mkdtemp makes it private; outputs should not be
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        assert self.tmp is not None
        if exc_type is None:
            try:
                for child in self.tmp.iterdir():
                    injected_fault(self.path)
                    with open(child, "rb+") as f:
                        os.fsync(f.fileno())
            except OSError as e:
                exc_type, exc = OSError, e
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)  # the old directory, if any, stays as it was
            if isinstance(exc, OSError):
                raise RnntoolError(f"cannot write {self.path}: {exc.strerror or exc}") from None
            return
        old = None
        if self.path.exists():
            old = self.path.with_name(f".{self.path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(self.path, old)
        os.replace(self.tmp, self.path)
        _fsync_dir(self.path.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


class OutputLock:
    """An exclusive claim on an output path for as long as a run writes it: ``PATH.lock``
    held with flock, so a second run writing the same file is refused at once instead of
    interleaving with the first. The kernel drops the lock when its process dies (even by
    SIGKILL), so a crashed run never leaves a stale claim.

    Holding the claim, it removes what a killed writer of ``path`` left: its half-written
    temporary files (``atomic_write``'s), which nobody else can be writing now."""

    def __init__(self, path: str | os.PathLike):
        import fcntl

        self.fd: int | None = None
        self.path = Path(f"{path}.lock")
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
            except OSError as e:
                raise RnntoolError(f"cannot write {self.path}: {e.strerror or e}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
                os.close(fd)
                raise RnntoolError(f"another training run (pid {holder}) is writing {path}; "
                                   "wait for it to end or give a different -o") from None
            except OSError as e:  # a file system without locks (some NFS and FUSE mounts)
                os.close(fd)
                raise RnntoolError(f"cannot lock {self.path}: {e.strerror or e}; "
                                   "write the model to a local disk") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a file the previous holder unlinked as we opened it
                break
            os.close(fd)
        self.fd = fd
        try:
            pid = f"{os.getpid()}\n".encode()
            os.pwrite(fd, pid, 0)  # the pid first: a refused run never reads an empty file
            os.ftruncate(fd, len(pid))
        except OSError as e:
            self.release()
            raise RnntoolError(f"cannot write {self.path}: {e.strerror or e}") from None
        target = Path(path)
        mine = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")  # make_temp's names
        for stale in target.parent.glob(f".{glob.escape(target.name)}.*.tmp"):
            if mine.fullmatch(stale.name):
                try:
                    stale.unlink()
                except OSError:
                    pass

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)  # while still held: a waiting opener sees another inode and retries
        except FileNotFoundError:
            pass
        os.close(self.fd)
        self.fd = None

    def __del__(self):
        self.release()
