"""The RadiView exception hierarchy.

Library code raises only these for expected failures (bad files, bad bundles), each with a
message that names the file and the problem, so callers (GUI, CLI, batch) can show it as is.
"""

from __future__ import annotations

from os import PathLike


class RadiviewError(Exception):
    """Base class of every expected RadiView failure.

    ``str(err)`` is a complete, user-facing sentence that starts with the file name when
    there is one; ``err.path`` holds that path and ``err.problem`` the bare problem text.
    """

    def __init__(self, problem: str, path: str | PathLike[str] | None = None) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class InputError(RadiviewError):
    """A file could not be read as a radiograph."""


class EmptyFileError(InputError):
    """The file has no bytes."""


class UnsupportedFormatError(InputError):
    """The file is neither DICOM nor a supported image format."""


class CorruptFileError(InputError):
    """The file claims a supported format but is truncated or damaged."""


class MissingPixelDataError(InputError):
    """A DICOM file without an image (e.g. a structured report)."""


class MissingDecoderError(InputError):
    """A compressed DICOM whose transfer syntax no installed plugin decodes.

    ``package`` names what to install.
    """

    def __init__(self, problem: str, path: str | PathLike[str] | None = None, package: str = "") -> None:
        self.package = package
        super().__init__(problem, path)


class UnsupportedImageError(InputError):
    """A readable file whose image RadiView cannot use (e.g. 3-D volume, odd photometric)."""


class ImageTooLargeError(InputError):
    """Dimensions beyond the documented pixel limit (decompression-bomb guard)."""


class ModelBundleError(RadiviewError):
    """The model bundle is missing, malformed, of an unknown format or fails its checks."""


class BundleIntegrityError(ModelBundleError):
    """The weights file does not match the SHA-256 in the model card."""


class InferenceError(RadiviewError):
    """The model could not run on an input (after any device fallback)."""


class ReportError(RadiviewError):
    """A report (CSV/PDF) could not be written or an existing one could not be resumed."""
