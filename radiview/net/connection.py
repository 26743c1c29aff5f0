"""One entry point for a node's services, whichever protocol it speaks."""

from __future__ import annotations

from typing import Literal

from radiview.net.dicomweb import DicomWebConnection
from radiview.net.dimse import DimseConnection
from radiview.net.errors import PacsConfigError
from radiview.net.nodes import PacsNode, SecretStore

Protocol = Literal["auto", "dicomweb", "dimse"]


def open_connection(
    node: PacsNode, secret: str | None = None, protocol: Protocol = "auto"
) -> DicomWebConnection | DimseConnection:
    """DICOMweb when the node has a URL (``auto``), else DIMSE; the secret from the store."""
    if protocol == "auto":
        protocol = "dicomweb" if node.has_dicomweb else "dimse"
    if protocol == "dicomweb":
        if not node.has_dicomweb:
            raise PacsConfigError(f"node {node.name!r} has no DICOMweb URL")
        if secret is None:
            secret = SecretStore().get(node.name) if node.auth != "none" else ""
        return DicomWebConnection(node, secret)
    if not node.has_dimse:
        raise PacsConfigError(f"node {node.name!r} has no DIMSE host and port")
    return DimseConnection(node)
