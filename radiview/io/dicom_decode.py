"""Decoding a DICOM film's first frame, with a decoder whose licence allows bundling.

The plugin is chosen per transfer syntax (``DECODER_PREFERENCE``); a syntax without one here
is a MissingDecoderError naming the package to install (``DECODER_PACKAGE``). JPEG streams
are walked before decoding (``io.jpeg_markers``): GDCM aborts the process on some damaged
headers, and the frame header's sample precision decides who can decode 12-bit JPEG Extended.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.pixels import get_decoder
from pydicom.pixels import pixel_array as decode_pixel_array
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

from radiview.errors import CorruptFileError, ImageTooLargeError, MissingDecoderError, RadiviewError
from radiview.io.formats import describe_exception
from radiview.io.jpeg_markers import JpegFrameHeader, JpegHeaderError, read_jpeg_frame_header

#: Decoder plugins in order of preference per transfer syntax. Only bundle-friendly licences:
#: "pylibjpeg" here means pylibjpeg-openjpeg / pylibjpeg-rle (MIT); pylibjpeg-libjpeg (GPL)
#: is asked for only for 12-bit JPEG Extended, which nothing else decodes. An empty tuple =
#: pydicom's own native decoder.
DECODER_PREFERENCE: dict[str, tuple[str, ...]] = {
    JPEGBaseline8Bit: ("gdcm", "pillow"),
    JPEGExtended12Bit: ("gdcm", "pillow"),
    JPEGLossless: ("gdcm",),
    JPEGLosslessSV1: ("gdcm",),
    JPEGLSLossless: ("pyjpegls", "gdcm"),
    JPEGLSNearLossless: ("pyjpegls", "gdcm"),
    JPEG2000Lossless: ("pylibjpeg", "gdcm", "pillow"),
    JPEG2000: ("pylibjpeg", "gdcm", "pillow"),
    HTJ2KLossless: ("pylibjpeg",),
    HTJ2KLosslessRPCL: ("pylibjpeg",),
    HTJ2K: ("pylibjpeg",),
    RLELossless: ("pylibjpeg", "pydicom"),
}

#: What to install when a syntax has no decoder here (named in MissingDecoderError).
DECODER_PACKAGE: dict[str, str] = {
    JPEGBaseline8Bit: "python-gdcm",
    JPEGExtended12Bit: "python-gdcm",
    JPEGLossless: "python-gdcm",
    JPEGLosslessSV1: "python-gdcm",
    JPEGLSLossless: "pyjpegls",
    JPEGLSNearLossless: "pyjpegls",
    JPEG2000Lossless: "pylibjpeg-openjpeg",
    JPEG2000: "pylibjpeg-openjpeg",
    HTJ2KLossless: "pylibjpeg-openjpeg",
    HTJ2KLosslessRPCL: "pylibjpeg-openjpeg",
    HTJ2K: "pylibjpeg-openjpeg",
    RLELossless: "pylibjpeg-rle",
}

#: The GPL decoder of true 12-bit JPEG (named in the error when it is missing).
LIBJPEG_PACKAGE = "pylibjpeg-libjpeg"

#: Decoder name of GDCM reading a 16-bit lossy JPEG stream itself (see ``choose_decoder``).
GDCM_DIRECT = "gdcm-direct"

JPEG_FAMILY = frozenset({JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1})

#: How far into a JPEG frame the header walk may look (APPn segments are at most 64 KiB each).
_JPEG_HEADER_BYTES = 65536 * 4


def choose_decoder(
    ds: Dataset, tsyntax: UID, bits_stored: int, frames: int, path: Path, index: int = 0
) -> str:
    """The decoder for ``ds``'s pixel data: a pydicom plugin name, "" (pydicom's native one)
    or ``GDCM_DIRECT``; MissingDecoderError names what to install when there is none.

    JPEG Extended with more than 8 bits stored is decided by the stream's frame header:
    a true 12-bit stream needs pylibjpeg-libjpeg (GPLv3, so not bundled); a stream that
    declares 16-bit samples (what GDCM's own encoder writes for 12-in-16-bit films; no
    conforming JPEG decoder accepts it) is read by GDCM itself, which pydicom's plugin refuses.
    """
    rows, columns = int(ds.Rows), int(ds.Columns)
    if tsyntax == JPEGExtended12Bit and bits_stored > 8:
        frame = check_jpeg_frame(ds, frames, rows, columns, path, index)
        if frame.precision > 12 and not frame.lossless and int(ds.get("SamplesPerPixel", 1) or 1) == 1:
            return _require_gdcm(path)
        return _select_plugin(tsyntax, path, ("pylibjpeg",), LIBJPEG_PACKAGE)
    preferred = DECODER_PREFERENCE.get(tsyntax, ())
    plugin = _select_plugin(tsyntax, path, preferred, DECODER_PACKAGE.get(tsyntax, "python-gdcm"))
    if plugin == "gdcm" and tsyntax in JPEG_FAMILY:
        check_jpeg_frame(ds, frames, rows, columns, path, index)
    return plugin


def decode_frame(
    ds: Dataset, decoder: str, frames: int, samples: int, path: Path, index: int = 0
) -> np.ndarray:
    """Frame ``index``'s stored values as an array ((rows, cols) or (rows, cols, 3))."""
    tsyntax = UID(str(ds.file_meta.TransferSyntaxUID))
    try:
        if decoder == GDCM_DIRECT:
            return _decode_with_gdcm(ds, frames, index)
        arr = decode_pixel_array(ds, index=index if frames > 1 else None, decoding_plugin=decoder)
    except RadiviewError:
        raise
    except MemoryError:
        raise ImageTooLargeError("not enough memory to decode this image", path) from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # also Rust panics from pylibjpeg-rle (a BaseException)
        raise CorruptFileError(
            f"pixel data cannot be decoded ({tsyntax.name or tsyntax}): {describe_exception(exc)}", path
        ) from None
    if frames > 1 and arr.ndim == (4 if samples == 3 else 3):
        arr = arr[0]
    return arr


def check_jpeg_frame(
    ds: Dataset, frames: int, rows: int, columns: int, path: Path, index: int = 0
) -> JpegFrameHeader:
    """Frame ``index``'s JPEG frame header; CorruptFileError for a structurally broken stream.

    The marker segments up to the start of scan are walked and the frame header must match
    Rows × Columns. Damage inside the entropy-coded data is left to the decoder, which
    reports it as an ordinary error.
    """
    try:
        frame = get_frame(ds.PixelData, index, number_of_frames=frames)
    except Exception as exc:
        raise CorruptFileError(f"damaged encapsulated pixel data ({describe_exception(exc)})", path) from None
    try:
        header = read_jpeg_frame_header(bytes(frame[:_JPEG_HEADER_BYTES]))
    except JpegHeaderError as exc:
        raise CorruptFileError(f"damaged JPEG pixel data: {exc}", path) from None
    if header.width != columns or header.height not in (0, rows):
        raise CorruptFileError(
            f"damaged JPEG pixel data: frame header says {header.width} × {header.height}, "
            f"DICOM header {columns} × {rows}",
            path,
        )
    return header


def _select_plugin(tsyntax: UID, path: Path, preferred: tuple[str, ...], package: str) -> str:
    """The first of ``preferred`` installed here, or MissingDecoderError naming ``package``."""
    name = getattr(tsyntax, "name", "") or str(tsyntax)
    try:
        decoder = get_decoder(tsyntax)
    except NotImplementedError:
        raise MissingDecoderError(
            f"transfer syntax {name} ({tsyntax}) is not supported by RadiView", path, package=""
        ) from None
    except Exception:
        raise CorruptFileError(f"invalid transfer syntax UID {str(tsyntax)[:64]!r}", path) from None
    if not preferred:
        if decoder.is_available:
            return ""
    else:
        available = set(decoder.available_plugins)
        for plugin in preferred:
            if plugin in available:
                return plugin
    raise MissingDecoderError(
        f"no decoder for transfer syntax {name}: install {package}"
        + (" (GPLv3, so RadiView does not bundle it)" if package == LIBJPEG_PACKAGE else ""),
        path,
        package=package,
    )


def _require_gdcm(path: Path) -> str:
    try:
        import gdcm  # noqa: F401  (python-gdcm: only to see that it is installed)
    except ImportError:
        raise MissingDecoderError(
            "no decoder for this 16-bit lossy JPEG stream: install python-gdcm", path, package="python-gdcm"
        ) from None
    return GDCM_DIRECT


def _decode_with_gdcm(ds: Dataset, frames: int, index: int = 0) -> np.ndarray:
    """GDCM decodes one grayscale JPEG frame (the way pydicom's GDCM plugin does, minus its
    refusal of JPEG Extended above 8 bits, which is about true 12-bit streams)."""
    import gdcm

    fragment = gdcm.Fragment()
    fragment.SetByteStringValue(bytes(get_frame(ds.PixelData, index, number_of_frames=frames)))
    fragments = gdcm.SequenceOfFragments.New()
    fragments.AddFragment(fragment)
    element = gdcm.DataElement(gdcm.Tag(0x7FE0, 0x0010))
    element.SetValue(fragments.__ref__())
    rows, columns = int(ds.Rows), int(ds.Columns)
    bits_stored = int(ds.BitsStored)
    signed = int(ds.get("PixelRepresentation", 0) or 0)
    image = gdcm.Image()
    image.SetNumberOfDimensions(2)
    image.SetDimensions((columns, rows, 1))
    image.SetDataElement(element)
    image.SetPhotometricInterpretation(
        gdcm.PhotometricInterpretation(gdcm.PhotometricInterpretation.MONOCHROME2)
    )
    image.SetTransferSyntax(gdcm.TransferSyntax(gdcm.TransferSyntax.JPEGExtendedProcess2_4))
    image.SetPixelFormat(gdcm.PixelFormat(1, 16, bits_stored, bits_stored - 1, signed))
    buffer = image.GetBuffer().encode("utf-8", "surrogateescape")  # GDCM returns char* as str
    values = np.frombuffer(buffer, dtype="<i2" if signed else "<u2")
    if values.size != rows * columns:
        raise ValueError(f"GDCM returned {values.size} samples for {rows} × {columns}")
    return values.reshape(rows, columns)
