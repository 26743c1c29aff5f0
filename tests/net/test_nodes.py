"""PACS node configuration and credential storage (no server needed)."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from radiview.net.errors import PacsConfigError
from radiview.net.nodes import KEYRING_SERVICE, PacsNode, SecretStore, get_node, load_nodes, save_nodes
from radiview.net.query import parse_date_range, parse_modalities


def test_ae_titles_are_validated() -> None:
    assert PacsNode(name="a", host="h", port=104, called_ae=" PACS ").called_ae == "PACS"
    PacsNode(name="a", host="h", port=104, called_ae="A" * 16)
    with pytest.raises(PacsConfigError, match="17 characters; DICOM allows 16"):
        PacsNode(name="a", host="h", port=104, called_ae="A" * 17)
    with pytest.raises(PacsConfigError, match="calling AE title is empty"):
        PacsNode(name="a", host="h", port=104, calling_ae="  ")
    with pytest.raises(PacsConfigError, match="printable ASCII"):
        PacsNode(name="a", host="h", port=104, called_ae="BAD\\AE")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"host": "h", "port": 0}, "port 0 is not in 1-65535"),
        ({}, "give a DICOMweb URL or a host and port"),
        ({"url": "ftp://x"}, "not an http"),
        ({"url": "http://user:pw@x/dicom-web"}, "credentials in the node's auth"),
        ({"url": "http://x", "auth": "kerberos"}, "auth must be none, basic or bearer"),
        ({"url": "http://x", "dimse_timeout_s": 0}, "dimse_timeout_s must be positive"),
    ],
)
def test_bad_node_configurations_say_what_is_wrong(fields: dict, message: str) -> None:
    with pytest.raises(PacsConfigError, match=message):
        PacsNode(name="n", **fields)


def test_tls_switches_the_scheme() -> None:
    node = PacsNode(name="n", url="http://pacs.example:8042/dicom-web/", tls=True)
    assert node.web_url == "https://pacs.example:8042/dicom-web"


def test_nodes_round_trip_without_secrets(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    nodes = [
        PacsNode(name="web", url="http://x/dicom-web", auth="basic", username="u", modalities=("CR",)),
        PacsNode(name="dimse", host="10.0.0.2", port=104, called_ae="ARCHIVE", dimse_timeout_s=12.5),
    ]
    path = save_nodes(nodes, tmp_path / "nodes.json")
    assert load_nodes(path) == {n.name: n for n in nodes}
    assert get_node("dimse", path).dimse_timeout_s == 12.5
    with pytest.raises(PacsConfigError, match=r"no PACS node named 'nope'.*dimse, web"):
        get_node("nope", path)
    data = json.loads(path.read_text())
    data["nodes"].append({"name": "broken", "host": "h", "port": 104, "called_ae": "X" * 20})
    path.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        assert set(load_nodes(path)) == {"web", "dimse"}
    assert "20 characters" in caplog.text


def test_secrets_without_a_keyring_go_to_an_owner_only_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        store = SecretStore(tmp_path)
        assert not store.keyring_available()
        with caplog.at_level(logging.WARNING):
            store.set("web", "s3cret-value")
        assert store.get("web") == "s3cret-value"
        assert stat.S_IMODE(store.file.stat().st_mode) == 0o600
        assert "no usable OS keyring" in caplog.text and "s3cret-value" not in caplog.text
        store.delete("web")
        assert store.get("web") == ""
    finally:
        keyring.set_keyring(previous)


class MemoryKeyring(KeyringBackend):
    """A keyring backend kept in memory (the OS keyring's API, without a desktop session)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


def test_secrets_go_to_the_keyring_when_there_is_one(tmp_path: Path) -> None:
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        store = SecretStore(tmp_path)
        assert store.keyring_available()
        store.set("web", "token-123")
        assert backend.items[(KEYRING_SERVICE, "web")] == "token-123"
        assert store.get("web") == "token-123"
        assert not store.file.exists()  # no plain-text copy
    finally:
        keyring.set_keyring(previous)


def test_date_ranges_and_modalities() -> None:
    assert parse_date_range("20260101-20260131") == ("20260101", "20260131")
    assert parse_date_range("20260105") == ("20260105", "20260105")
    assert parse_date_range("20260101-") == ("20260101", "")
    with pytest.raises(PacsConfigError, match="starts after it ends"):
        parse_date_range("20260201-20260101")
    with pytest.raises(PacsConfigError, match="YYYYMMDD"):
        parse_date_range("2026-01-01")
    assert parse_modalities("cr, dx") == ("CR", "DX")
    assert parse_modalities(None) == ("CR", "DX")


class LockedKeyring(MemoryKeyring):
    """A keyring that exists but refuses (e.g. a locked desktop wallet)."""

    def set_password(self, service: str, username: str, password: str) -> None:
        from keyring.errors import PasswordSetError

        raise PasswordSetError("locked")


def test_a_refusing_keyring_falls_back_to_the_owner_only_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(LockedKeyring())
    try:
        store = SecretStore(tmp_path)
        with caplog.at_level(logging.WARNING):
            store.set("web", "pw-1")
        assert store.get("web") == "pw-1"
        assert stat.S_IMODE(store.file.stat().st_mode) == 0o600
        assert "refused the PACS credentials" in caplog.text and "pw-1" not in caplog.text
    finally:
        keyring.set_keyring(previous)


def test_uids_from_the_archive_never_become_paths_outside_the_work_folder(tmp_path: Path) -> None:
    from radiview.net.errors import PacsResponseError
    from radiview.net.query import check_uid
    from radiview.net.screen_study import film_path

    assert film_path(tmp_path, "1.2.3", "1.2.3.4") == tmp_path / "1.2.3" / "1.2.3.4.dcm"
    for bad in ("../../etc", "1.2/3", "", "1." * 40, "1.2.x"):
        with pytest.raises(PacsResponseError, match="invalid"):
            check_uid(bad)
    with pytest.raises(PacsResponseError, match="invalid Study Instance UID"):
        film_path(tmp_path, "..", "1.2")
