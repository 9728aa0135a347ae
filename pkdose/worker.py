"""Calls that can be abandoned: a function run in a child Python process under a time budget.

Why a child process and not a ``SIGALRM`` timeout: an alarm interrupts only Python
bytecode on the main thread, so a call stuck inside numpy or scipy C code, or one made
from another thread, never sees it, and a call interrupted half way can leave module
state half updated. A child process can always be killed, on Linux and macOS alike, and
takes its memory with it. The child is the same interpreter started with ``-c``, not a
:mod:`multiprocessing` process: the spawn and forkserver start methods re-import the
caller's ``__main__`` (which breaks scripts without an ``if __name__ == "__main__"``
guard), and fork is unsafe in a process that runs threads. One child serves call after
call, so imports are paid once; it is replaced only after a call it had to abandon.

Requests and answers are pickles over two pipes (length-prefixed); the parent waits on
its pipe with :func:`select.select`, which needs POSIX pipes: on other systems
:func:`available` is false and callers run the work in their own process.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["CallFailed", "Worker", "available", "serve"]

#: Seconds a new child may take to import the preloaded modules before it counts as broken.
START_TIMEOUT_S = 120.0
_HEADER = struct.Struct("!Q")
_CHUNK = 1 << 20
_CHILD = "import sys; from pkdose.worker import serve; serve(int(sys.argv[1]), " \
         "int(sys.argv[2]), sys.argv[3:])"


def available() -> bool:
    """Whether calls can run in a child process here (POSIX pipes and ``select``)."""
    return os.name == "posix" and bool(sys.executable)


class CallFailed(Exception):
    """A call that gave no answer.

    Attributes
    ----------
    kind : {"timeout", "stopped", "raised"}
        Over its time budget (the child was killed), the child process ended without an
        answer, or the function raised.
    detail : str
        One line: the budget in seconds, how the child ended, or ``Type: message``.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail = kind, detail


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _send(fd: int, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    _write_all(fd, _HEADER.pack(len(data)) + data)


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes | None:
    """``n`` bytes, or None at end of file; TimeoutError once ``deadline`` has passed."""
    parts, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, _CHUNK))
        if not chunk:
            return None
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _receive(fd: int, deadline: float | None) -> tuple[Any, ...] | None:
    head = _read_exact(fd, _HEADER.size, deadline)
    if head is None:
        return None
    body = _read_exact(fd, _HEADER.unpack(head)[0], deadline)
    return None if body is None else pickle.loads(body)


def serve(request_fd: int, answer_fd: int, preload: Sequence[str] = ()) -> None:
    """The child's loop: import ``preload``, say ready, then answer calls until end of file.

    Each request is ``(function, args)``; each answer ``("ok", value)`` or
    ``("raised", "Type: message")``. Ctrl-C is left to the parent, which kills the child.
    """
    import importlib

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in preload:
        importlib.import_module(name)
    _send(answer_fd, ("ready",))
    while (request := _receive(request_fd, None)) is not None:
        func, args = request
        try:
            answer = pickle.dumps(("ok", func(*args)), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:  # noqa: BLE001 - every failure goes back as an answer
            answer = pickle.dumps(("raised", f"{type(exc).__name__}: "
                                             f"{' '.join(str(exc).split())}"))
        _write_all(answer_fd, _HEADER.pack(len(answer)) + answer)


class Worker:
    """One child process that runs calls under a time budget; a context manager.

    Parameters
    ----------
    preload : sequence of str
        Modules the child imports before it counts as started, so that their import time
        is not charged to the first call.
    start_timeout_s : float
        How long a new child may take to start.
    """

    def __init__(self, preload: Sequence[str] = (),
                 start_timeout_s: float = START_TIMEOUT_S) -> None:
        self.preload, self.start_timeout_s = tuple(preload), start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._fds: tuple[int, int] = (-1, -1)
        self._log: Any = None
        self._busy = False

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _start(self) -> None:
        from_parent, to_child = os.pipe()
        from_child, to_parent = os.pipe()
        # The child imports this very pkdose, wherever the parent found it.
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        self._log = tempfile.TemporaryFile()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _CHILD, str(from_parent), str(to_parent),
                 *self.preload], pass_fds=(from_parent, to_parent),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
                env=env)
        finally:
            os.close(from_parent)
            os.close(to_parent)
        self._fds = (to_child, from_child)
        try:
            ready = _receive(from_child, time.monotonic() + self.start_timeout_s)
        except TimeoutError:
            ready = None
        if ready != ("ready",):
            why = self._ended()
            self.close()
            raise RuntimeError(f"the worker process did not start ({why})")

    def _ended(self) -> str:
        """How the child ended (killing it if it has not), with its last line of stderr."""
        assert self._proc is not None
        if self._proc.poll() is None:
            self._proc.kill()
        code = self._proc.wait()
        how = (f"killed by {signal.Signals(-code).name}" if code < 0 and
               -code in signal.valid_signals() else f"exit status {code}")
        self._log.seek(0)
        lines = [ln for ln in self._log.read().decode("utf-8", "replace").splitlines()
                 if ln.strip()]
        return how + (f": {lines[-1].strip()[:200]}" if lines else "")

    def call(self, func: Callable[..., Any], args: tuple[Any, ...], timeout_s: float) -> Any:
        """``func(*args)`` in the child, its answer within ``timeout_s`` seconds of wall time.

        ``func`` and the answer travel as pickles (``func`` by its module and name).

        Raises
        ------
        CallFailed
            Over the budget (the child is killed and replaced at the next call), the
            child ended without an answer, or ``func`` raised.
        """
        if self._proc is None:
            self._start()
        to_child, from_child = self._fds
        self._busy = True
        try:
            _send(to_child, (func, args))
            answer = _receive(from_child, time.monotonic() + timeout_s)
        except TimeoutError:
            self.close()
            raise CallFailed("timeout", f"{timeout_s:g} s") from None
        except BrokenPipeError:
            answer = None
        self._busy = False
        if answer is None:
            why = self._ended()
            self.close()
            raise CallFailed("stopped", why)
        if answer[0] == "raised":
            raise CallFailed("raised", answer[1])
        return answer[1]

    def close(self) -> None:
        """Stop the child: killed in the middle of a call (over budget, or the caller was
        interrupted); when idle, end of file asks it to exit, and it is killed if it has
        not within a few seconds."""
        if self._proc is None:
            return
        if self._busy:
            self._proc.kill()
        for fd in self._fds:
            os.close(fd)
        self._fds, self._busy = (-1, -1), False
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        finally:
            self._log.close()
            self._proc = None
