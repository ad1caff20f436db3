"""Kernels forked from a process that has already imported torch, NumPy and Matplotlib.

A fresh Jupyter kernel spends about 2 s of CPU importing torch and Matplotlib before a notebook's
first cell does anything; ``kb check`` starts one kernel per notebook. Instead, it starts one *fork
server* per run ([`ForkServer`][kb.kernels.ForkServer]): a process with the kernels' environment
(threads, backend, ``PYTHONPATH``) that imports [`PRELOADED`][kb.kernels.PRELOADED] once and then forks
a kernel for each notebook. Each forked kernel:

* is an ordinary ipykernel, started with the connection file jupyter_client wrote, in its own session
  (signals to it do not reach the server), with stdin from ``/dev/null`` and its output into the
  notebook's kernel log;
* seeds Python's and NumPy's global random generators afresh, as a new process would;
* dies when the server dies (``PDEATHSIG``) and when the worker that asked for it dies.

Nothing of the checkout is imported before the fork: the notebook imports ``kb`` and ``refimpl``
itself, so the cache still sees every checkout file it uses (see [`kb.execute`][kb.execute]).

jupyter_client drives a forked kernel like one it started:
[`ForkKernelManager`][kb.kernels.ForkKernelManager] gives it a provisioner whose process object
polls, signals and waits through a pidfd. When the server cannot start (no ``os.pidfd_open``, an
import fails), kernels are started the ordinary way.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any, Optional

PRELOADED = ("torch", "torch._dynamo", "torch.fx.experimental.symbolic_shapes", "torch.utils.flop_counter", "sympy",
             "numpy", "matplotlib", "matplotlib.pyplot", "PIL.Image", "ipykernel.ipkernel", "ipykernel.kernelapp",
             "IPython.core.interactiveshell")
"""Imported by the server before it forks: third-party packages only (never the checkout's own).

``torch._dynamo`` and sympy (about 800 modules) are what torch imports the first time anything
runs on the ``meta`` device or an optimiser is made: most notebooks pay them in their first cells."""

START_SECONDS = 60
"""How long the server may take to import everything and say it is ready."""

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Be killed when the parent process exits, even by SIGKILL (Linux' PR_SET_PDEATHSIG; elsewhere nothing)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


# --------------------------------------------------------------------------- the server process


def _reap(signum: int, frame: Any) -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass


def _watch(pid: int) -> None:
    """Exit this process when ``pid`` exits (a thread of the forked kernel)."""
    import threading

    try:
        fd = os.pidfd_open(pid)
    except (OSError, AttributeError):
        os._exit(1)

    def wait() -> None:
        select.select([fd], [], [])
        os._exit(1)

    threading.Thread(target=wait, name="kb-watch-worker", daemon=True).start()


def _become_kernel(request: dict[str, Any]) -> None:
    """In the forked child: turn into the kernel ``request`` describes, and never return."""
    try:
        os.setsid()
        die_with_parent()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600) if request.get("log") else \
            os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        os.environ["JPY_PARENT_PID"] = str(os.getppid())  # ipykernel exits when the server goes; _watch: the worker
        _watch(int(request["watch"]))
        import random

        import numpy
        import torch

        random.seed()
        numpy.random.seed()  # as at a fresh import: from the operating system's entropy
        threads = os.environ.get("OMP_NUM_THREADS")
        if threads and threads.isdigit():
            torch.set_num_threads(int(threads))
        from ipykernel import kernelapp

        # parent_handle's default was read from JPY_PARENT_PID when the server imported ipykernel (unset then):
        # without it the kernel polls no parent and logs that it was started by hand ("Ctrl-C will not work").
        argv = ["-f", request["connection_file"], f"--IPKernelApp.parent_handle={os.getppid()}"]
        sys.argv = [sys.executable, *argv]
        kernelapp.launch_new_instance(argv=argv)
    except BaseException:  # noqa: BLE001 - the child must never return into the server's loop
        import traceback

        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def serve(path: str) -> None:
    """The server's main loop: import ``PRELOADED``, listen on the Unix socket ``path``, fork a kernel per request."""
    import importlib

    sys.path[0] = os.getcwd()  # as for ``python -m ipykernel_launcher``: not this file's folder
    for name in PRELOADED:
        importlib.import_module(name)
    signal.signal(signal.SIGCHLD, _reap)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # kb check stops the server itself
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    while True:
        connection, _ = listener.accept()
        with connection:
            stream = connection.makefile("rwb")
            line = stream.readline()
            if not line:
                continue
            request = json.loads(line)
            pid = os.fork()
            if pid == 0:
                listener.close()
                connection.close()
                _become_kernel(request)
            stream.write(json.dumps({"pid": pid}).encode() + b"\n")
            stream.flush()


# --------------------------------------------------------------------------- kb check's side


FOLDER_PREFIX = "kb-kernels-"
"""The server's socket, and each kernel's, live in ``$TMPDIR/kb-kernels-<pid of their kb process>-<random>/``
(mode 0700)."""


def sweep_folders() -> None:
    """Remove the socket folders of this user's kb processes that are gone (a ``kb check`` killed with SIGKILL
    leaves its server's and its kernels' folders: they die too, but none can remove them). Run once per run of
    notebooks ([`run_notebooks`][kb.execute.run_notebooks])."""
    for folder in Path(tempfile.gettempdir()).glob(f"{FOLDER_PREFIX}*-*"):
        owner = folder.name[len(FOLDER_PREFIX):].split("-", 1)[0]
        try:
            if not owner.isdigit() or folder.stat().st_uid != os.getuid() or _alive(int(owner)):
                continue
            for entry in folder.iterdir():
                entry.unlink()
            folder.rmdir()
        except OSError:  # another run sweeping it, or not ours to remove
            continue


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process, with that pid
        return True
    return True


class ForkServer:
    """One run's fork server.

    Args:
        env: the kernels' environment (it is the server's own: threads and backend are fixed at import).
        cwd: the kernels' working folder (the checkout).
    """

    def __init__(self, env: dict[str, str], cwd: str):
        self.folder = tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-")
        self.path = os.path.join(self.folder, "server")
        self.process: Optional[subprocess.Popen] = None
        self.env, self.cwd = env, cwd

    def start(self) -> bool:
        """Start the server (it imports while the workers start); ``False`` when this system cannot fork kernels."""
        if not hasattr(os, "pidfd_open") or not hasattr(signal, "pidfd_send_signal"):
            return False
        try:
            self.process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), self.path], cwd=self.cwd, env=self.env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                preexec_fn=die_with_parent)
        except OSError:
            self.stop()
            return False
        return True

    def running(self) -> bool:
        """Whether the server was started and has not exited."""
        return self.process is not None and self.process.poll() is None

    @property
    def address(self) -> Optional[tuple[str, int]]:
        """What a worker needs to ask for kernels: the socket's path and the server's pid."""
        return (self.path, self.process.pid) if self.process is not None else None

    def stop(self) -> None:
        """Stop the server; the kernels it forked die with it (``PDEATHSIG``)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None
        try:
            os.unlink(self.path)
        except OSError:
            pass
        try:
            os.rmdir(self.folder)
        except OSError:
            pass


def _connect(path: str, server: int) -> socket.socket:
    """A connection to the server, once it listens (it may still be importing); ``OSError`` if it died or took too long."""
    import time

    deadline = time.monotonic() + START_SECONDS
    pidfd = os.pidfd_open(server)
    try:
        while True:
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                client.connect(path)
                return client
            except (FileNotFoundError, ConnectionRefusedError):
                client.close()
            if select.select([pidfd], [], [], 0.05)[0]:
                raise OSError("the kernel server exited")
            if time.monotonic() > deadline:
                raise OSError(f"the kernel server was not ready within {START_SECONDS} s")
    finally:
        os.close(pidfd)


def fork_kernel(address: tuple[str, int], connection_file: str, env: dict[str, str], cwd: str,
                log: Optional[str]) -> int:
    """Ask the server at ``address`` (see [`ForkServer.address`][kb.kernels.ForkServer.address]) for a kernel; its pid."""
    with _connect(*address) as client:
        client.settimeout(30)
        stream = client.makefile("rwb")
        request = {"connection_file": connection_file, "env": env, "cwd": cwd, "log": log, "watch": os.getpid()}
        stream.write(json.dumps(request).encode() + b"\n")
        stream.flush()
        return int(json.loads(stream.readline())["pid"])


class ForkedProcess:
    """What jupyter_client needs of a ``Popen`` for a process that is not its child, through a pidfd.

    The server reaps the kernel, so its exit status is not known here: ``returncode`` is -1 once it exited."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: Optional[int] = None
        try:
            self._fd: Optional[int] = os.pidfd_open(pid)
        except ProcessLookupError:  # already gone
            self._fd, self.returncode = None, -1

    def poll(self) -> Optional[int]:
        if self.returncode is None and self._fd is not None:
            if select.select([self._fd], [], [], 0)[0]:
                self._exited()
        return self.returncode

    def _exited(self) -> None:
        self.returncode = -1
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def wait(self, timeout: Optional[float] = None) -> int:
        if self.returncode is None and self._fd is not None:
            if not select.select([self._fd], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout)
            self._exited()
        return self.returncode if self.returncode is not None else -1

    def send_signal(self, signum: int) -> None:
        if self.poll() is None and self._fd is not None:
            try:
                signal.pidfd_send_signal(self._fd, signum)
            except ProcessLookupError:
                self._exited()

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


_server: Optional[tuple[str, int]] = None
"""The fork server this worker's kernels come from (set by [`use_server`][kb.kernels.use_server])."""


def use_server(address: Optional[tuple[str, int]]) -> None:
    """Fork this worker's kernels from the server at ``address`` (``None``: start them the ordinary way)."""
    global _server
    _server = tuple(address) if address else None


def kernel_manager_class() -> Any:
    """The kernel manager nbclient should use in this worker: forked kernels when a server is set, else ordinary
    ones; either talks to its kernel over Unix sockets."""
    import shutil

    from jupyter_client.manager import AsyncKernelManager
    from jupyter_client.provisioning import LocalProvisioner

    class LocalSocketKernelManager(AsyncKernelManager):
        """Talks to its kernel over Unix sockets in a folder of its own (mode 0700), not over TCP ports.

        jupyter_client picks a kernel's free TCP ports by binding and releasing them; another process can take one
        before the kernel binds it. Two ``kb check`` at once (and the test suite) did: the kernel then either
        exited ("Kernel died before replying to kernel_info") or hung on its way out until the 60 s start-up
        timeout. Socket files named inside this manager's folder cannot be taken. The folder is removed when the
        kernel is shut down, and by the next run (`sweep_folders`) if this worker was killed."""

        def __init__(self, **kwargs: Any):
            super().__init__(**kwargs)
            self.socket_folder = tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-")
            self.transport = "ipc"
            self.ip = os.path.join(self.socket_folder, "kernel")

        async def _async_cleanup_resources(self, restart: bool = False) -> None:
            await super()._async_cleanup_resources(restart=restart)
            if not restart:
                shutil.rmtree(self.socket_folder, ignore_errors=True)

    if not _server:
        return LocalSocketKernelManager
    server = _server

    class ForkProvisioner(LocalProvisioner):
        async def launch_kernel(self, cmd: list[str], **kwargs: Any):
            connection_file = cmd[cmd.index("-f") + 1]
            log = getattr(kwargs.get("stderr"), "name", None)
            try:
                pid = fork_kernel(server, connection_file, dict(kwargs.get("env") or os.environ),
                                  str(kwargs.get("cwd") or os.getcwd()), log if isinstance(log, str) else None)
            except (OSError, ValueError, KeyError):  # no server: a kernel started the ordinary way
                return await super().launch_kernel(cmd, **kwargs)
            self.process = ForkedProcess(pid)
            self.pid = self.pgid = pid  # its own session: the group is the kernel and what it starts
            self.cwd = kwargs.get("cwd") or os.getcwd()
            return self.connection_info

    class ForkKernelManager(LocalSocketKernelManager):
        async def _async_pre_start_kernel(self, **kw: Any):
            if self.provisioner is None:
                self.kernel_id = self.kernel_id or kw.pop("kernel_id", str(uuid.uuid4()))
                self.provisioner = ForkProvisioner(kernel_id=self.kernel_id, kernel_spec=self.kernel_spec,
                                                   provisioner_config={}, parent=self)
            return await super()._async_pre_start_kernel(**kw)

    return ForkKernelManager


if __name__ == "__main__":
    serve(sys.argv[1])
