"""PNG / JPEG / TIFF / BMP films via Pillow, at full bit depth.

16-bit grayscale is read raw through numpy (Pillow's I;16 conversions clip to 8 bits);
colour files become ITU-R BT.601 luminance, and ``was_color`` is set only when the
channels really differ: a grayscale film saved as RGB is very common and is not a photo.
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from radiview.errors import (
    CorruptFileError,
    ImageTooLargeError,
    RadiviewError,
    UnsupportedFormatError,
    UnsupportedImageError,
)
from radiview.io.color import COLOR_TOLERANCE, LUMA_WEIGHTS, apply_luminance, colorfulness
from radiview.io.formats import check_pixel_count, describe_exception, read_head, sniff_format
from radiview.io.jpeg_markers import JpegHeaderError, read_jpeg_frame_header
from radiview.io.radiograph import Radiograph
from radiview.io.windowing import window_from_percentiles

logger = logging.getLogger("radiview.io")

__all__ = [
    "COLOR_TOLERANCE",
    "LUMA_WEIGHTS",
    "apply_luminance",
    "colorfulness",
    "read_image",
    "read_image_size",
]

#: (float32 gray pixels, bits, the RGB array when the file was a colour mode)
_GrayPixels = tuple[np.ndarray, int, np.ndarray | None]

_COLOR_MODES = frozenset({"RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV", "P", "PA"})
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


def read_image_size(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG or BMP header without decoding; None if not found.

    Lets the pixel limit refuse a decompression bomb before Pillow opens it (and before
    Pillow's own DecompressionBombWarning, which we must not silence globally).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
            kind = sniff_format(head + b"\0" * 100)
            if kind == "png" and len(head) >= 24 and head[12:16] == b"IHDR":
                width, height = struct.unpack(">II", head[16:24])
                return width, height
            if kind == "bmp" and len(head) >= 26:
                width, height = struct.unpack("<ii", head[18:26])
                return abs(width), abs(height)
            if kind == "jpeg":
                frame = read_jpeg_frame_header(fh, until_scan=False)
                return frame.width, frame.height
    except (OSError, struct.error, JpegHeaderError):
        return None
    return None


def read_image(path: str | os.PathLike[str]) -> Radiograph:
    """Read a PNG, JPEG, TIFF or BMP film into a Radiograph (float32, full bit depth).

    Raises UnsupportedFormatError (not such an image), CorruptFileError (truncated or
    damaged), ImageTooLargeError (over MAX_PIXELS) or UnsupportedImageError (odd mode).
    """
    p = Path(path)
    head = read_head(p)
    kind = sniff_format(head)
    if kind is None or kind == "dicom":
        raise UnsupportedFormatError("not a PNG, JPEG, TIFF or BMP image", p)
    size = read_image_size(p)
    if size is not None:
        check_pixel_count(size[1], size[0], p)
    fmt, mode, pages, transposed, (pixels, bits, rgb) = _open(p, kind)
    warnings: list[str] = []
    metadata = {
        "format": fmt,
        "mode": mode,
        "size": f"{pixels.shape[1]} × {pixels.shape[0]}",
        "bits": str(bits),
    }
    if pages > 1:
        warnings.append(f"multi-page {fmt} ({pages} pages): showing the first page only")
    score = None if rgb is None else colorfulness(rgb)
    if score is not None and score > COLOR_TOLERANCE:
        warnings.append(f"colour image ({mode}) converted to grayscale (luminance)")
    if _has_transparency(transposed):
        warnings.append("transparency (alpha channel) ignored")
    for text in warnings:
        logger.warning("%s: %s", p.name, text)
    logger.debug("%s: %s %s %dx%d, %d bit", p.name, fmt, mode, pixels.shape[1], pixels.shape[0], bits)
    return Radiograph(
        pixels=pixels,
        source=str(p),
        kind="image",
        bits_stored=bits,
        default_window=window_from_percentiles(pixels),
        photometric="MONOCHROME2" if rgb is None else "RGB",
        was_color=score is not None and score > COLOR_TOLERANCE,
        colorfulness=score,
        metadata=metadata,
        warnings=tuple(warnings),
    )


def _open(path: Path, kind: str) -> tuple[str, str, int, Image.Image, _GrayPixels]:
    """(format, mode, pages, upright image, its gray pixels); RadiviewErrors for damaged files."""
    try:
        with Image.open(path) as im:
            check_pixel_count(im.height, im.width, path)
            fmt = str(im.format or kind.upper())
            pages = int(getattr(im, "n_frames", 1) or 1)
            transposed = ImageOps.exif_transpose(im)
            transposed.load()
            return fmt, im.mode, pages, transposed, _gray_pixels(transposed, path)
    except RadiviewError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageTooLargeError(f"image too large to decode safely ({exc})", path) from None
    except UnidentifiedImageError:
        raise CorruptFileError(f"damaged {kind.upper()} file: Pillow cannot identify it", path) from None
    except MemoryError:
        raise ImageTooLargeError("not enough memory to decode this image", path) from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, … on damaged files
        raise CorruptFileError(
            f"damaged or truncated {kind.upper()} file ({describe_exception(exc)})", path
        ) from None


def _has_transparency(im: Image.Image) -> bool:
    if im.mode not in ("LA", "La", "RGBA", "RGBa", "PA") or "A" not in im.getbands():
        return False
    return bool(np.asarray(im.getchannel("A")).min() < 255)


def _gray_pixels(im: Image.Image, path: Path) -> _GrayPixels:
    """(float32 gray pixels, bits, RGB array when the file was a colour mode)."""
    mode = im.mode
    if mode in _SIXTEEN_BIT_MODES:
        return np.asarray(im).astype(np.float32), 16, None
    if mode == "L":
        return np.asarray(im).astype(np.float32), 8, None
    if mode in ("LA", "La"):
        return np.asarray(im.getchannel("L")).astype(np.float32), 8, None
    if mode == "1":
        return np.asarray(im.convert("L")).astype(np.float32), 8, None
    if mode == "I":
        arr = np.asarray(im)
        bits = 16 if arr.size and arr.min() >= 0 and arr.max() <= 0xFFFF else 32
        return arr.astype(np.float32), bits, None
    if mode == "F":
        return np.asarray(im, dtype=np.float32).copy(), 32, None
    if mode in _COLOR_MODES:
        rgb = np.asarray(im.convert("RGB"))
        return apply_luminance(rgb), 8, rgb
    raise UnsupportedImageError(f"unsupported image mode {mode!r}", path)
