"""Decoding in child processes: results, the decoder's errors, crashes, threads and fork."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from voxelio.codecs.isolated import IsolatedDecoder
from voxelio.errors import DecodingError


def test_result_comes_back_whole() -> None:
    decoder = IsolatedDecoder("builtins:bytearray", "bytearray")
    data = bytes(range(256)) * 1000
    assert np.array_equal(decoder.decode(data, "chunk a"), np.frombuffer(data, np.uint8))
    decoder.close()


def test_decoder_error_names_the_chunk_and_keeps_the_child() -> None:
    decoder = IsolatedDecoder("json:loads", "json")
    with pytest.raises(DecodingError, match="chunk b: cannot decode: Expecting value"):
        decoder.decode(b"not json", "chunk b")
    assert decoder.decode(b"[1, 2, 3]", "chunk c").tolist() == [1, 2, 3]
    assert len(decoder._idle) == 1
    decoder.close()


def test_crash_is_an_error_and_the_next_call_works() -> None:
    crashing = IsolatedDecoder("tests.codecs.crashing:segfault", "test")
    with pytest.raises(DecodingError, match="chunk d: the test decoder was killed by SIGSEGV"):
        crashing.decode(b"x", "chunk d")
    assert crashing._idle == []
    with pytest.raises(DecodingError, match="SIGSEGV"):
        crashing.decode(b"x", "chunk e")


def test_threads_each_get_a_child() -> None:
    decoder = IsolatedDecoder("builtins:bytearray", "bytearray")
    items = [bytes([i]) * (1000 + i) for i in range(40)]
    with ThreadPoolExecutor(4) as pool:
        out = list(pool.map(lambda b: decoder.decode(b, "chunk"), items))
    assert [len(a) for a in out] == [len(b) for b in items]
    assert 1 <= len(decoder._idle) <= 4
    decoder.close()
    assert decoder._idle == []


def test_fork_starts_new_children_and_leaves_the_parents_alone() -> None:
    decoder = IsolatedDecoder("builtins:bytearray", "bytearray")
    decoder.decode(b"abc", "chunk")
    parents_child = decoder._idle[0]
    pid = os.fork()
    if pid == 0:  # child process: must not touch the parent's pipes
        ok = decoder.decode(b"xyz", "chunk").tobytes() == b"xyz"
        ok = ok and parents_child not in decoder._idle
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert decoder.decode(b"abc", "chunk").tobytes() == b"abc"
    assert decoder._idle == [parents_child]
    decoder.close()


def test_a_decoder_that_cannot_start_is_named() -> None:
    decoder = IsolatedDecoder("voxelio.no_such_module:decode", "test")
    expected = "chunk f: cannot start the test decoder process: .*No module named 'voxelio.no_"
    with pytest.raises(DecodingError, match=expected):
        decoder.decode(b"x", "chunk f")
