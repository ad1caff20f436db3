"""Writing the checkout safely: a cross-process lock, atomic writes, and all-or-nothing changes.

* [`locked`][kb.locks.locked] holds an exclusive lock for a file across processes (``fcntl.flock``
  on a sidecar ``.NAME.kb-lock`` next to it, which git ignores); two ``kb new`` at once take turns
  instead of one losing the other's BibTeX entry. The operating system drops the lock when its
  holder dies, however it dies, so an interrupted command never blocks the next one.
* [`atomic_write`][kb.locks.atomic_write] writes a file under a unique temporary name in the same
  folder, then renames it over the target: a reader sees the old file or the new one, never half.
* [`apply_changes`][kb.locks.apply_changes] writes, creates and deletes several files as one change:
  if anything fails, or SIGINT/SIGTERM arrives, every file is put back as it was before the
  exception goes on.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Iterator, Mapping, Optional, Union

Data = Union[bytes, str]

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once, at import (single-threaded): new files get the usual 0o666 & ~umask

_held: dict[Path, list] = {}  # sidecar → [file descriptor, depth, RLock]: the lock is re-entrant within a process
_held_guard = threading.Lock()


class LockTimeout(TimeoutError):
    """The lock was not free within the time given."""


def lock_path(path: Union[str, Path]) -> Path:
    """The sidecar file whose ``flock`` stands for ``path``: ``.NAME.kb-lock`` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.name}.kb-lock")


@contextlib.contextmanager
def locked(path: Union[str, Path], timeout: Optional[float] = None) -> Iterator[Path]:
    """Hold the exclusive lock of ``path`` for the ``with`` block, against other processes and threads.

    Re-entrant: a thread that holds it may take it again. The sidecar file is never deleted
    (deleting a lock file that another process waits on would let two hold it at once).

    Args:
        path: the file to lock (it need not exist; its folder is created if missing).
        timeout: seconds to wait before [`LockTimeout`][kb.locks.LockTimeout]; ``None`` waits as long as it takes.
    """
    sidecar = lock_path(path).resolve()
    with _held_guard:
        entry = _held.setdefault(sidecar, [None, 0, threading.RLock()])
    guard: threading.RLock = entry[2]
    if not guard.acquire(timeout=-1 if timeout is None else timeout):
        raise LockTimeout(f"{sidecar} is held by another thread of this process (waited {timeout} s)")
    try:
        if entry[1] == 0:
            sidecar.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(sidecar, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
            try:
                _flock(fd, sidecar, timeout)
            except BaseException:
                os.close(fd)
                raise
            entry[0] = fd
        entry[1] += 1
        try:
            yield sidecar
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                fd, entry[0] = entry[0], None
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
    finally:
        guard.release()


def _flock(fd: int, sidecar: Path, timeout: Optional[float]) -> None:
    if timeout is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise LockTimeout(f"another kb command holds {sidecar} (waited {timeout} s); try again when it is done")
            time.sleep(0.05)


def atomic_write(path: Union[str, Path], data: Data, exclusive: bool = False) -> None:
    """Write ``data`` (``str`` is written as UTF-8) to ``path`` through a unique temporary file in its folder.

    The temporary file is renamed over ``path`` (``os.replace``), so a reader never sees half a
    file and two writers never share a temporary name. An existing file keeps its permissions.

    Args:
        path: the file to write.
        data: its new content.
        exclusive: fail with `FileExistsError` if ``path`` exists (checked atomically, by a hard link).
    """
    path = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_UMASK
        os.chmod(tmp, mode)
        if exclusive:
            os.link(tmp, path)  # FileExistsError if it appeared meanwhile: never overwrite
        else:
            os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


# --------------------------------------------------------------------------- several files, all or nothing


_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


def _interrupt(signum, frame):  # SIGTERM/SIGHUP during the writes: unwind like Ctrl-C, so the rollback runs
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def _signals(handler) -> Iterator[None]:
    """Set ``handler`` (a function, or ``signal.SIG_IGN``) for SIGINT/SIGTERM/SIGHUP, restoring them after.

    ``SIGINT`` keeps Python's own handler (``KeyboardInterrupt``) when ``handler`` is a function, and
    a handler someone else installed (``kb``'s command line) is kept too. Off the main thread, nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in _SIGNALS}
    try:
        for s, old in saved.items():
            if handler is signal.SIG_IGN:
                signal.signal(s, signal.SIG_IGN)
            elif old in (signal.SIG_DFL, None) and s != signal.SIGINT:
                signal.signal(s, handler)
        yield
    finally:
        for s, old in saved.items():
            if old is not None:
                signal.signal(s, old)


def _write_file(path: Path, data: bytes, exclusive: bool) -> None:
    """Write one file of a change (tests replace this to inject a failure)."""
    atomic_write(path, data, exclusive=exclusive)


def apply_changes(root: Union[str, Path], changes: Mapping[str, Optional[Data]]) -> None:
    """Make every change of ``changes`` or none: ``{path relative to root: new content, or None to delete}``.

    Files that do not exist are created exclusively (never overwriting one that appeared
    meanwhile), with any missing folders; existing files are replaced atomically. If anything
    raises (a full disk, a permission, Ctrl-C, SIGTERM), every file already changed is put back
    byte for byte, created files and folders are removed, and the exception goes on. The rollback
    itself ignores SIGINT and SIGTERM, so a second Ctrl-C cannot leave it half done.
    """
    root = Path(root)
    undo: list[tuple[str, Path, Optional[bytes], int]] = []  # (what, path, old bytes, old mode), in order
    try:
        with _signals(_interrupt):
            for rel, data in changes.items():
                path = root / rel
                old = path.read_bytes() if path.is_file() else None
                mode = path.stat().st_mode & 0o7777 if old is not None else 0
                if data is None:
                    if old is None:
                        continue
                    path.unlink()
                    undo.append(("deleted", path, old, mode))
                    continue
                for folder in reversed(path.relative_to(root).parents[:-1]):
                    if not (root / folder).is_dir():
                        (root / folder).mkdir()
                        undo.append(("made-dir", root / folder, None, 0))
                payload = data.encode("utf-8") if isinstance(data, str) else data
                if old is None:
                    try:
                        _write_file(path, payload, True)
                    except FileExistsError:
                        raise  # someone else's file, which appeared meanwhile: not ours to remove
                    except BaseException:
                        undo.append(("created", path, None, 0))  # interrupted just after the link: ours
                        raise
                    undo.append(("created", path, None, 0))
                else:
                    undo.append(("replaced", path, old, mode))
                    _write_file(path, payload, False)
    except BaseException:
        with _signals(signal.SIG_IGN):
            _roll_back(undo)
        raise


def _roll_back(undo: list[tuple[str, Path, Optional[bytes], int]]) -> None:
    for what, path, old, mode in reversed(undo):
        try:
            if what == "created":
                path.unlink(missing_ok=True)
            elif what == "made-dir":
                path.rmdir()
            else:
                atomic_write(path, old)
                os.chmod(path, mode)
        except OSError:  # pragma: no cover - keep undoing the rest
            pass


# --------------------------------------------------------------------------- reading


class NotUtf8(ValueError):
    """A text file of the checkout that is not UTF-8; the message names it and the first bad byte."""


def read_utf8(path: Union[str, Path], shown: Optional[str] = None) -> str:
    """The text of ``path``; [`NotUtf8`][kb.locks.NotUtf8] with a one-line message if it is not UTF-8.

    Args:
        path: the file.
        shown: how the message names it (e.g. relative to the checkout); default ``path``.
    """
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise NotUtf8(f"{shown or path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}, column {column}): "
                      "save it as UTF-8") from None
