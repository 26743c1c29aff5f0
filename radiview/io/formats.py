"""Format sniffing and input limits shared by the readers, the loader and folder discovery.

Files are recognised by their first bytes, not their extension: PACS exports are often
extension-less, and a JPEG named ``.png`` is common.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Literal

from radiview.errors import EmptyFileError, ImageTooLargeError, InputError

Format = Literal["dicom", "png", "jpeg", "tiff", "bmp"]

#: Decompression-bomb guard: a film larger than this many pixels (rows × columns, one
#: frame) is refused with ImageTooLargeError before decoding. It equals Pillow's own warning
#: threshold (about 89.5 MP, e.g. 9459 × 9459), so Pillow never warns about a file we accept;
#: the largest detectors give about 4300 × 4300 (18 MP), a 600-dpi 14×17" film scan 86 MP.
MAX_PIXELS = 89_478_485

#: Bytes needed to sniff every supported format (the DICOM preamble is 128 bytes + "DICM").
SNIFF_BYTES = 132

#: Extensions of candidate files (lower case). Extension-less files are sniffed.
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})
DICOM_EXTENSIONS = frozenset({".dcm", ".dicom", ".dic"})

_VR_NAMES = (
    "AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV"
)
_DICOM_VRS = frozenset(name.encode() for name in _VR_NAMES.split())


def sniff_format(head: bytes) -> Format | None:
    """The format the leading bytes announce, or None. ``head`` should hold 132 bytes."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if head.startswith(b"BM") and len(head) >= 26:
        return "bmp"
    if _looks_like_bare_dicom(head):
        return "dicom"
    return None


def _looks_like_bare_dicom(head: bytes) -> bool:
    """A DICOM data set without preamble: first tag in group 0002 or 0008 (little endian).

    The element number must be small and the next bytes a valid explicit VR or a sane
    implicit-VR length, so an arbitrary binary that starts with 08 00 is not taken for DICOM.
    """
    if len(head) < 8:
        return False
    group, element = struct.unpack("<HH", head[:4])
    if group not in (0x0002, 0x0008) or element > 0x00FF:
        return False
    if head[4:6] in _DICOM_VRS:
        return True
    (length,) = struct.unpack("<I", head[4:8])
    return length < 0x10000


def read_head(path: str | os.PathLike[str], size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes; InputError for a missing/unreadable path, EmptyFileError for 0 bytes."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(size)
    except FileNotFoundError:
        raise InputError("file not found", p) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file", p) from None
    except PermissionError:
        raise InputError("permission denied", p) from None
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror or exc})", p) from None
    if not head:
        raise EmptyFileError("empty file (0 bytes)", p)
    return head


def check_pixel_count(rows: int, columns: int, path: str | os.PathLike[str]) -> None:
    """ImageTooLargeError when rows × columns exceeds MAX_PIXELS."""
    if rows * columns > MAX_PIXELS:
        raise ImageTooLargeError(
            f"image of {columns} × {rows} pixels exceeds the limit of {MAX_PIXELS:,} pixels", path
        )


def describe_exception(exc: BaseException) -> str:
    """A one-line "Type: message" for wrapping a library error (never a traceback)."""
    text = str(exc).strip()
    first = whole_sentences(text.splitlines()[0]) if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def whole_sentences(text: str, limit: int = 300) -> str:
    """``text`` shortened to at most ``limit`` characters at a sentence end (else a word end,
    marked with an ellipsis): a message is never cut mid-word or mid-sentence silently."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    end = max(head.rfind(". "), head.rfind("; "))
    if end >= limit // 3:
        return head[: end + 1].rstrip(";") + ("" if head[end] == "." else ".")
    space = head.rfind(" ")
    return (head[:space] if space > 0 else head[: limit - 1]).rstrip(" ,:;") + " …"
