"""PACS nodes: where an archive is and how to talk to it; secrets kept out of the JSON.

Nodes live in ``pacs-nodes.json`` beside settings.json in the user config dir (a file of
its own: ``save_settings`` rewrites settings.json from the ``Settings`` dataclass and would
drop keys it does not know). Passwords and bearer tokens go to the OS keyring (``keyring``)
when a real backend exists. Without one (a headless server, a minimal container) they go
to ``pacs-secrets.json`` in the same folder, readable by the owner only (0600), and a
warning says so once. Secrets are never logged and never part of a node's repr.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlparse

from radiview.atomic import atomic_write
from radiview.net.errors import PacsConfigError
from radiview.settings import config_dir

log = logging.getLogger("radiview.net.nodes")

NODES_FILE = "pacs-nodes.json"
SECRETS_FILE = "pacs-secrets.json"
KEYRING_SERVICE = "radiview-pacs"
DEFAULT_MODALITIES = ("CR", "DX")
AE_TITLE_MAX = 16
Auth = Literal["none", "basic", "bearer"]
_AE_CHARS = re.compile(r"^[\x20-\x5b\x5d-\x7e]+$")  # default character repertoire, no backslash


def validate_ae_title(title: str, what: str = "AE title") -> str:
    """The title stripped; PacsConfigError if empty, over 16 characters or not plain ASCII."""
    stripped = title.strip()
    if not stripped:
        raise PacsConfigError(f"{what} is empty")
    if len(stripped) > AE_TITLE_MAX:
        raise PacsConfigError(f"{what} {stripped!r} is {len(stripped)} characters; DICOM allows 16")
    if not _AE_CHARS.match(stripped):
        raise PacsConfigError(f"{what} {stripped!r} may hold only printable ASCII without backslash")
    return stripped


@dataclass(frozen=True)
class PacsNode:
    """One archive. DICOMweb when ``url`` is set; DIMSE when ``host`` and ``port`` are."""

    name: str
    url: str = ""  # DICOMweb root, e.g. http://pacs:8042/dicom-web
    host: str = ""
    port: int = 0
    called_ae: str = "ANY-SCP"  # the archive's AE title
    calling_ae: str = "RADIVIEW"  # ours
    auth: Auth = "none"
    username: str = ""
    tls: bool = False  # https for DICOMweb, DICOM TLS for DIMSE
    verify_tls: bool = True  # check the server's certificate (and host name)
    tls_ca_file: str = ""  # PEM CA bundle for a private PKI ("" = the system's)
    tls_cert_file: str = ""  # our client certificate, for archives that require one
    tls_key_file: str = ""
    association_timeout_s: float = 10.0  # TCP connect + A-ASSOCIATE answer
    dimse_timeout_s: float = 30.0  # one DIMSE response (C-FIND, C-GET, C-MOVE, C-STORE)
    network_timeout_s: float = 60.0  # silence on an open association before it is dropped
    http_timeout_s: float = 30.0
    modalities: tuple[str, ...] = DEFAULT_MODALITIES
    results_destination: bool = False  # send SC + SR back here after screening

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise PacsConfigError("a PACS node needs a name")
        # Frozen, so normalise through object.__setattr__: AE titles travel without padding.
        object.__setattr__(
            self, "called_ae", validate_ae_title(self.called_ae, f"node {self.name!r}: called AE title")
        )
        object.__setattr__(
            self, "calling_ae", validate_ae_title(self.calling_ae, f"node {self.name!r}: calling AE title")
        )
        if self.auth not in ("none", "basic", "bearer"):
            raise PacsConfigError(
                f"node {self.name!r}: auth must be none, basic or bearer, not {self.auth!r}"
            )
        if not self.url and not self.host:
            raise PacsConfigError(f"node {self.name!r}: give a DICOMweb URL or a host and port")
        if self.host and not 0 < self.port < 65536:
            raise PacsConfigError(f"node {self.name!r}: port {self.port} is not in 1-65535")
        if self.url:
            parsed = urlparse(self.url)
            if parsed.scheme not in ("http", "https") or not parsed.netloc:
                raise PacsConfigError(f"node {self.name!r}: {self.url!r} is not an http(s) URL")
            if parsed.username or parsed.password:
                raise PacsConfigError(f"node {self.name!r}: put credentials in the node's auth, not the URL")
        for name in ("association_timeout_s", "dimse_timeout_s", "network_timeout_s", "http_timeout_s"):
            if not getattr(self, name) > 0:
                raise PacsConfigError(f"node {self.name!r}: {name} must be positive")

    @property
    def has_dicomweb(self) -> bool:
        return bool(self.url)

    @property
    def has_dimse(self) -> bool:
        return bool(self.host and self.port)

    @property
    def web_url(self) -> str:
        """The DICOMweb root with the scheme TLS asks for."""
        url = self.url.rstrip("/")
        if self.tls and url.startswith("http://"):
            return "https://" + url[len("http://") :]
        return url

    @property
    def address(self) -> str:
        return self.web_url if self.url else f"{self.called_ae}@{self.host}:{self.port}"


def node_from_dict(data: dict[str, Any]) -> PacsNode:
    known = {f.name for f in fields(PacsNode)}
    unknown = sorted(set(data) - known)
    if unknown:
        log.warning("PACS node %r: unknown keys ignored: %s", data.get("name"), ", ".join(unknown))
    values = {k: v for k, v in data.items() if k in known}
    if "modalities" in values:
        values["modalities"] = tuple(str(m).upper() for m in values["modalities"])
    try:
        return PacsNode(**values)
    except TypeError as exc:
        raise PacsConfigError(f"PACS node {data.get('name')!r}: {exc}") from exc


def nodes_path() -> Path:
    return config_dir() / NODES_FILE


def load_nodes(path: str | os.PathLike[str] | None = None) -> dict[str, PacsNode]:
    """The configured nodes by name; a broken entry is logged and left out."""
    target = Path(path) if path is not None else nodes_path()
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s: PACS nodes unreadable (%s)", target, exc)
        return {}
    nodes: dict[str, PacsNode] = {}
    for entry in data.get("nodes", []) if isinstance(data, dict) else []:
        try:
            node = node_from_dict(entry)
        except PacsConfigError as exc:
            log.warning("%s: %s", target, exc)
            continue
        nodes[node.name] = node
    return nodes


def save_nodes(
    nodes: dict[str, PacsNode] | list[PacsNode], path: str | os.PathLike[str] | None = None
) -> Path:
    """Write the nodes atomically (no secrets: those go through ``store_secret``)."""
    target = Path(path) if path is not None else nodes_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    items = list(nodes.values()) if isinstance(nodes, dict) else list(nodes)
    payload = {"nodes": [{**asdict(n), "modalities": list(n.modalities)} for n in items]}
    with atomic_write(target, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(payload, indent=2) + "\n")
    return target


def get_node(name: str, path: str | os.PathLike[str] | None = None) -> PacsNode:
    nodes = load_nodes(path)
    if name not in nodes:
        known = ", ".join(sorted(nodes)) or "none configured"
        raise PacsConfigError(f"no PACS node named {name!r} (known: {known}; file {path or nodes_path()})")
    return nodes[name]


def with_changes(node: PacsNode, **changes: Any) -> PacsNode:
    return replace(node, **changes)


# --------------------------------------------------------------------------------- secrets


@dataclass
class SecretStore:
    """Passwords/tokens by node name: the OS keyring if usable, else a 0600 JSON file."""

    folder: Path | None = None
    _warned: bool = field(default=False, repr=False)

    @property
    def file(self) -> Path:
        return (self.folder or config_dir()) / SECRETS_FILE

    @staticmethod
    def keyring_available() -> bool:
        try:
            import keyring
            from keyring.backends import fail

            backend = keyring.get_keyring()
        except Exception:  # a broken keyring install is the same as none
            return False
        return not isinstance(backend, fail.Keyring) and getattr(backend, "priority", 0) > 0

    @property
    def backend_name(self) -> str:
        return "OS keyring" if self.keyring_available() else f"file {self.file} (owner-only)"

    def get(self, node_name: str) -> str:
        if self.keyring_available():
            import keyring
            from keyring.errors import KeyringError

            try:
                value = keyring.get_password(KEYRING_SERVICE, node_name)
            except KeyringError as exc:  # locked or broken keyring: say so, try the file
                log.warning("the OS keyring could not be read (%s)", type(exc).__name__)
                value = None
            if value is not None:
                return value
        return self._read_file().get(node_name, "")

    def set(self, node_name: str, secret: str) -> None:
        if self.keyring_available():
            import keyring
            from keyring.errors import KeyringError

            try:
                keyring.set_password(KEYRING_SERVICE, node_name, secret)
            except KeyringError as exc:
                log.warning("the OS keyring refused the PACS credentials (%s)", type(exc).__name__)
            else:
                self._drop_from_file(node_name)  # never keep a second copy in plain text
                return
        if not self._warned:
            log.warning("no usable OS keyring: PACS credentials are kept in %s (mode 0600)", self.file)
            self._warned = True
        data = self._read_file()
        data[node_name] = secret
        self._write_file(data)

    def delete(self, node_name: str) -> None:
        if self.keyring_available():
            import keyring
            from keyring.errors import PasswordDeleteError

            with contextlib.suppress(PasswordDeleteError):
                keyring.delete_password(KEYRING_SERVICE, node_name)
        self._drop_from_file(node_name)

    def _read_file(self) -> dict[str, str]:
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("%s: unreadable (%s); no stored PACS credentials", self.file, type(exc).__name__)
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _write_file(self, data: dict[str, str]) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        # Create it owner-only first: atomic_write keeps an existing file's mode, so the
        # secrets are never readable by others, not even for a moment.
        os.close(os.open(self.file, os.O_WRONLY | os.O_CREAT, 0o600))
        os.chmod(self.file, 0o600)
        with atomic_write(self.file, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(data, indent=2) + "\n")

    def _drop_from_file(self, node_name: str) -> None:
        data = self._read_file()
        if node_name in data:
            del data[node_name]
            self._write_file(data)
