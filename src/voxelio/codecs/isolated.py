"""Decoding in child processes, for C libraries that crash on corrupt input.

Some codec libraries (fpzip) read their stream without bounds checks: a corrupt or truncated
chunk ends in a segmentation fault, which would take the whole Python process (a notebook
kernel, a worker) with it. :class:`IsolatedDecoder` runs such a decoder in child processes
started with ``python -m voxelio.codecs.isolated MODULE:FUNCTION``; a child that dies turns
into a :class:`~voxelio.errors.DecodingError` in the caller, and the next call starts a new
child. The children are plain subprocesses (no ``multiprocessing``), so the caller's
``__main__`` is never re-imported, and they exit when their pipes close.

Protocol, over the child's stdin and stdout: a request is an 8-byte little-endian length and
the encoded bytes; the answer is one status byte (0 = array, 1 = error) and then either a
length-prefixed JSON header (``shape``, ``dtype``) and the array's bytes in Fortran order,
or a length-prefixed UTF-8 error message.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import struct
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable
from typing import IO

import numpy as np

from voxelio.errors import DecodingError

_LEN = struct.Struct("<Q")


def _read_exact(stream: IO[bytes], n: int) -> bytes:
    """Exactly ``n`` bytes from ``stream``; raises EOFError when the stream ends first."""
    data = stream.read(n)
    if data is None or len(data) != n:
        raise EOFError(f"stream ended after {0 if data is None else len(data)} of {n} bytes")
    return data


def _send(stream: IO[bytes], status: int | None, *parts: bytes | memoryview) -> None:
    """Write an optional status byte, then each part with its length prefix, and flush."""
    if status is not None:
        stream.write(bytes([status]))
    for part in parts:
        stream.write(_LEN.pack(len(part)))
        stream.write(part)
    stream.flush()


def _receive(stream: IO[bytes]) -> bytes:
    """One length-prefixed part."""
    (n,) = _LEN.unpack(_read_exact(stream, _LEN.size))
    return _read_exact(stream, n)


def _receive_array(stream: IO[bytes]) -> np.ndarray:
    """One length-prefixed part read straight into a new byte array (no copies of it)."""
    (n,) = _LEN.unpack(_read_exact(stream, _LEN.size))
    out = np.empty(n, dtype=np.uint8)
    view, got = out.data, 0
    while got < n:
        step = stream.readinto(view[got:])  # type: ignore[attr-defined]
        if not step:
            raise EOFError(f"stream ended after {got} of {n} bytes")
        got += step
    return out


_READY = b"\x02"


class ChildStartError(RuntimeError):
    """A decoder process could not start (the message is its last error line)."""


class _Child:
    """One decoder subprocess and its pipes."""

    def __init__(self, target: str) -> None:
        """Start the child and wait until it has imported ``target``; raises
        :class:`ChildStartError` with the child's last error line when it cannot."""
        self.owner = os.getpid()
        # the child sees this process's import path, wherever voxelio was found
        path = os.pathsep.join(p for p in sys.path if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voxelio.codecs.isolated", target],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
        )
        assert self.proc.stdout is not None and self.proc.stderr is not None
        ready = self.proc.stdout.read(1)
        if ready != _READY:
            lines = self.proc.stderr.read().decode("utf-8", "replace").strip().splitlines()
            self.stop()
            raise ChildStartError(lines[-1] if lines else f"exited with {self.proc.returncode}")
        self.proc.stderr.close()  # the child now writes its errors to /dev/null

    def decode(self, data: bytes) -> np.ndarray:
        """Send one stream, return the decoded array; raises ``ValueError`` with the
        decoder's own message, or ``EOFError``/``OSError`` when the child died."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        _send(self.proc.stdin, None, bytes(data))
        status = _read_exact(self.proc.stdout, 1)[0]
        if status != 0:
            raise ValueError(_receive(self.proc.stdout).decode("utf-8", "replace"))
        header = json.loads(_receive(self.proc.stdout))
        flat = _receive_array(self.proc.stdout).view(np.dtype(header["dtype"]))
        return flat.reshape(tuple(header["shape"]), order="F")

    def death(self) -> str:
        """How the child ended, for an error message."""
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.stop()
            return "stopped answering"
        if code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with status {code}"

    def stop(self) -> None:
        """Close the pipes and end the child (only from the process that started it)."""
        if os.getpid() != self.owner:
            return
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _stop_all(children: list[_Child]) -> None:
    for child in children:
        child.stop()
    children.clear()


class IsolatedDecoder:
    """Calls ``MODULE:FUNCTION(data) -> ndarray`` in child processes.

    ``library`` names the decoder in error messages. Thread safe: each concurrent call uses
    its own child (started on demand, then kept idle for the next call). A child that dies
    (segmentation fault, abort) is discarded and reported as a :class:`DecodingError`. After
    ``fork()`` the children of the parent are left alone and new ones are started.
    """

    def __init__(self, target: str, library: str) -> None:
        self.target = target
        self.library = library
        self._lock = threading.Lock()
        self._idle: list[_Child] = []
        self._pid = os.getpid()
        self._finalizer = weakref.finalize(self, _stop_all, self._idle)

    def _take(self, what: str) -> _Child:
        with self._lock:
            if self._pid != os.getpid():  # forked: the pipes belong to the parent
                self._idle.clear()
                self._pid = os.getpid()
            if self._idle:
                return self._idle.pop()
        try:
            return _Child(self.target)
        except (ChildStartError, OSError) as exc:
            raise DecodingError(
                f"{what}: cannot start the {self.library} decoder process: {exc}"
            ) from exc

    def _give_back(self, child: _Child) -> None:
        with self._lock:
            if self._pid == os.getpid():
                self._idle.append(child)
                return
        child.stop()

    def decode(self, data: bytes, what: str) -> np.ndarray:
        """Decode ``data`` in a child; errors name ``what`` (the chunk) and the cause."""
        child = self._take(what)
        try:
            arr = child.decode(data)
        except ValueError as exc:
            self._give_back(child)
            raise DecodingError(f"{what}: cannot decode: {exc}") from None
        except (EOFError, OSError) as exc:
            raise DecodingError(
                f"{what}: the {self.library} decoder {child.death()} while reading "
                f"{len(data)} bytes: the stream is corrupt or truncated"
            ) from exc
        self._give_back(child)
        return arr

    def close(self) -> None:
        """End the idle children (also done when the decoder is garbage collected)."""
        with self._lock:
            _stop_all(self._idle)


def _serve(function: Callable[[bytes], np.ndarray], inp: IO[bytes], out: IO[bytes]) -> None:
    """The child's loop: decode requests until stdin closes."""
    while True:
        try:
            data = _receive(inp)
        except EOFError:
            return
        try:
            result = function(data)
            arr = np.asarray(result)
            if arr.dtype.hasobject:
                raise TypeError(f"the decoder returned {type(result).__name__}, not numbers")
        except Exception as exc:  # the decoder's own error goes back to the caller
            _send(out, 1, str(exc).encode("utf-8", "replace") or type(exc).__name__.encode())
            continue
        header = json.dumps({"shape": list(arr.shape), "dtype": arr.dtype.str}).encode()
        # the array's own memory when it is Fortran-ordered (ravel copies only otherwise)
        _send(out, 0, header, np.ravel(arr, order="F").view(np.uint8).data)


def main(argv: list[str]) -> int:
    """Entry point of a child: ``python -m voxelio.codecs.isolated MODULE:FUNCTION``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    module_name, function_name = argv[0].split(":")
    function = getattr(importlib.import_module(module_name), function_name)
    quiet = os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 2)  # nobody reads stderr after the start: it must not fill a pipe
    os.close(quiet)
    sys.stdout.buffer.write(_READY)
    sys.stdout.buffer.flush()
    _serve(function, sys.stdin.buffer, sys.stdout.buffer)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
