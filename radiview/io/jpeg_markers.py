"""THE JPEG marker walker: the marker segments before the first scan, without decoding.

Two readers need the frame header (SOFn) of a JPEG stream: ``image.read_image_size`` (the
decompression-bomb guard reads a JPEG file's size before Pillow opens it) and the DICOM
decoder (GDCM aborts the whole process on some damaged headers, so a JPEG frame is checked
first, and its sample precision picks the decoder). Both walk the stream here.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import BinaryIO

#: Bound on the segments walked: a hostile file cannot make the walk loop forever.
MAX_SEGMENTS = 1000

#: SOFn markers that are not frame headers: DHT (C4), JPG (C8) and DAC (CC).
_NOT_FRAME_HEADERS = frozenset({0xC4, 0xC8, 0xCC})

#: SOFn markers of the lossless processes (ITU T.81 Table B.1).
_LOSSLESS_FRAMES = frozenset({0xC3, 0xC7, 0xCB, 0xCF})


class JpegHeaderError(ValueError):
    """The marker segments before the scan are damaged; the message says how."""


@dataclass(frozen=True)
class JpegFrameHeader:
    """The first frame header (SOFn) of a JPEG stream (ITU T.81 B.2.2)."""

    marker: int  # 0xC0 … 0xCF
    precision: int  # P: bits per sample
    height: int  # Y: 0 means "defined by the DNL marker after the first scan"
    width: int  # X
    components: int  # Nf

    @property
    def lossless(self) -> bool:
        return self.marker in _LOSSLESS_FRAMES


def read_jpeg_frame_header(stream: BinaryIO | bytes, until_scan: bool = True) -> JpegFrameHeader:
    """Walk the marker segments from the start-of-image marker to the frame header.

    With ``until_scan`` the walk goes on to the start of the first scan, so a stream whose
    header segments are cut off or damaged after the frame header is refused too.
    ``stream`` is bytes or a seekable binary file positioned anywhere (read from offset 0).
    Raises JpegHeaderError naming the problem and the byte offset where it was found.
    """
    fh = io.BytesIO(stream) if isinstance(stream, bytes | bytearray | memoryview) else stream
    end = fh.seek(0, os.SEEK_END)
    fh.seek(0)
    if fh.read(2) != b"\xff\xd8":
        raise JpegHeaderError("no start-of-image marker")
    frame: JpegFrameHeader | None = None
    for _ in range(MAX_SEGMENTS):
        offset = fh.tell()
        code = _read_marker(fh, offset)
        if code == 0x01 or 0xD0 <= code <= 0xD8:
            continue  # stand-alone markers (TEM, RSTn, SOI) carry no length
        if code == 0xD9:
            raise JpegHeaderError("image ends before any scan")
        length_bytes = fh.read(2)
        if len(length_bytes) < 2:
            raise JpegHeaderError("truncated before the scan")
        length = int.from_bytes(length_bytes, "big")
        if length < 2 or fh.tell() - 2 + length > end:
            raise JpegHeaderError(f"bad segment length at byte {offset}")
        if code == 0xDA:
            if frame is None:
                raise JpegHeaderError("scan before frame header")
            return frame
        if 0xC0 <= code <= 0xCF and code not in _NOT_FRAME_HEADERS and frame is None:
            frame = _read_frame_header(fh, code, length)
            if not until_scan:
                return frame
            continue
        fh.seek(length - 2, os.SEEK_CUR)
    raise JpegHeaderError(f"no scan within the first {MAX_SEGMENTS} marker segments")


def _read_marker(fh: BinaryIO, offset: int) -> int:
    first = fh.read(1)
    if not first:
        raise JpegHeaderError("truncated before the scan")
    if first != b"\xff":
        raise JpegHeaderError(f"bad marker at byte {offset}")
    marker = fh.read(1)
    while marker == b"\xff":  # fill bytes before a marker code
        marker = fh.read(1)
    if not marker:
        raise JpegHeaderError("truncated before the scan")
    return marker[0]


def _read_frame_header(fh: BinaryIO, code: int, length: int) -> JpegFrameHeader:
    if length < 8:
        raise JpegHeaderError("short frame header")
    body = fh.read(length - 2)
    return JpegFrameHeader(
        marker=code,
        precision=body[0],
        height=int.from_bytes(body[1:3], "big"),
        width=int.from_bytes(body[3:5], "big"),
        components=body[5],
    )


def jpeg_header_problem(stream: bytes, rows: int, columns: int) -> str | None:
    """What is wrong with a JPEG stream's header for a ``rows`` × ``columns`` image, or None."""
    try:
        frame = read_jpeg_frame_header(stream)
    except JpegHeaderError as exc:
        return str(exc)
    if frame.width != columns or frame.height not in (0, rows):
        return f"frame header says {frame.width} × {frame.height}, DICOM header {columns} × {rows}"
    return None
