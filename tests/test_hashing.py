"""Files written with their SHA-256 and size (kgraph._hashing): the writing thread."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kgraph._hashing import HashingWriter, write_content

pieces = st.lists(
    st.tuples(st.binary(max_size=3000), st.sampled_from(["bytes", "bytearray", "memoryview"])),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(parts=pieces, big=st.integers(0, 3))
def test_written_file_sha256_and_size_are_those_of_the_bytes_written(
    tmp_path_factory: pytest.TempPathFactory, parts: list[tuple[bytes, str]], big: int
) -> None:
    path = tmp_path_factory.mktemp("w") / "f"
    # a few writes over the megabyte the thread is sent at once, among small ones
    data = [*parts, *[(bytes([i]) * (1 << 20) + b"x", "bytes") for i in range(big)]]
    reused = bytearray()

    def content(fh: BinaryIO) -> None:
        for piece, how in data:
            if how == "bytearray":  # a buffer the caller changes right after the write
                reused[:] = piece
                fh.write(reused)
                reused[:] = b"\0" * len(reused)
            elif how == "memoryview":
                fh.write(memoryview(bytearray(piece)))
            else:
                fh.write(piece)

    info = write_content(path, content)
    want = b"".join(piece for piece, _ in data)
    assert path.read_bytes() == want
    assert info == {"sha256": hashlib.sha256(want).hexdigest(), "bytes": len(want)}
    assert not [t for t in threading.enumerate() if t.name == "kgraph-write"]


class FullDisk:
    """A file whose writes fail after ``room`` bytes."""

    def __init__(self, room: int) -> None:
        self.room = room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            raise OSError(28, "No space left on device")
        self.room -= len(data)
        return len(data)


def test_the_threads_error_reaches_the_writer() -> None:
    sink = HashingWriter(FullDisk(3 << 20))  # type: ignore[arg-type]
    with pytest.raises(OSError, match="No space left"):
        for _ in range(64):  # 64 MB: the thread fails at the fourth megabyte
            sink.write(b"x" * (1 << 20))
        sink.finish()
    sink.abort()
    assert sink._thread is None


def test_a_content_that_fails_leaves_no_thread(tmp_path: Path) -> None:
    def content(fh: BinaryIO) -> None:
        fh.write(b"y" * (3 << 20))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_content(tmp_path / "f", content)
    assert not [t for t in threading.enumerate() if t.name == "kgraph-write"]
