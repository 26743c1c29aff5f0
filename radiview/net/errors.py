"""Network failures, each a ``RadiviewError`` whose message says what to check.

Messages name the node and the address, never a credential.
"""

from __future__ import annotations

from radiview.errors import RadiviewError


class PacsError(RadiviewError):
    """A PACS operation failed (base class)."""


class PacsConfigError(PacsError):
    """A node's configuration is invalid (bad AE title, port, URL...)."""


class PacsConnectionError(PacsError):
    """Nothing answers at the node's address (server down, wrong host or port)."""


class PacsRejectedError(PacsError):
    """The server refused us: association rejected (AE titles) or HTTP 401/403."""


class PacsTimeoutError(PacsError):
    """The server accepted the connection but did not answer in time."""


class PacsResponseError(PacsError):
    """The server answered with a failure status."""


class NotAnImageError(PacsError):
    """The instance is not an image RadiView reads (e.g. a structured report)."""
