"""PACS nodes in Settings: edit, save (secrets to the keyring) and "Test connection"."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from radiview.errors import RadiviewError
from radiview.net.nodes import PacsNode, SecretStore, load_nodes, save_nodes


class _TestSignals(QObject):
    finished = Signal(bool, str)


def test_connection(node: PacsNode, secret: str) -> str:
    """C-ECHO (DIMSE) and/or a QIDO query (DICOMweb); a line per protocol. Raises on failure."""
    from radiview.net.dicomweb import DicomWebConnection
    from radiview.net.dimse import DimseConnection

    lines = []
    if node.has_dicomweb:
        start = time.perf_counter()
        DicomWebConnection(node, secret).ping()
        lines.append(f"DICOMweb QIDO answered in {(time.perf_counter() - start) * 1000:.0f} ms")
    if node.has_dimse:
        start = time.perf_counter()
        DimseConnection(node).ping()
        lines.append(f"C-ECHO answered in {(time.perf_counter() - start) * 1000:.0f} ms")
    return "; ".join(lines)


class PacsNodesDialog(QDialog):
    """Edit the node list; Save writes pacs-nodes.json and the secrets to the secret store."""

    def __init__(self, parent: QWidget | None = None, secrets: SecretStore | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("PACS nodes")
        self.setMinimumWidth(640)
        self.secrets = secrets or SecretStore()
        self.nodes: dict[str, PacsNode] = load_nodes()
        self._typed_secrets: dict[str, str] = {}
        self._signals = _TestSignals(self)  # owned by the dialog: deleted with it, in the GUI thread
        self._signals.finished.connect(self._on_test_finished)

        self.list = QListWidget()
        self.list.addItems(sorted(self.nodes))
        self.list.currentTextChanged.connect(self._show_node)
        add, remove = QPushButton("Add"), QPushButton("Remove")
        add.clicked.connect(self._add)
        remove.clicked.connect(self._remove)
        left = QVBoxLayout()
        left.addWidget(self.list)
        buttons = QHBoxLayout()
        buttons.addWidget(add)
        buttons.addWidget(remove)
        left.addLayout(buttons)

        self.name, self.url, self.host = QLineEdit(), QLineEdit(), QLineEdit()
        self.url.setPlaceholderText("http://pacs:8042/dicom-web (DICOMweb)")
        self.host.setPlaceholderText("pacs.example (DIMSE)")
        self.port = QSpinBox()
        self.port.setRange(0, 65535)
        self.called_ae, self.calling_ae = QLineEdit(), QLineEdit()
        for edit in (self.called_ae, self.calling_ae):
            edit.setMaxLength(16)
        self.auth = QComboBox()
        self.auth.addItems(["none", "basic", "bearer"])
        self.username, self.secret = QLineEdit(), QLineEdit()
        self.secret.setEchoMode(QLineEdit.EchoMode.Password)
        self.secret.setPlaceholderText("stored in the " + self.secrets.backend_name)
        self.tls = QCheckBox("TLS (https / DICOM TLS)")
        self.ca_file = QLineEdit()
        self.ca_file.setPlaceholderText("CA bundle (PEM) for a private PKI; empty = system")
        self.association_timeout, self.dimse_timeout = QDoubleSpinBox(), QDoubleSpinBox()
        for spin in (self.association_timeout, self.dimse_timeout):
            spin.setRange(0.5, 600)
            spin.setSuffix(" s")
        form = QFormLayout()
        for label, widget in (
            ("Name", self.name),
            ("DICOMweb URL", self.url),
            ("Host", self.host),
            ("Port", self.port),
            ("Called AE (archive)", self.called_ae),
            ("Calling AE (ours)", self.calling_ae),
            ("Authentication", self.auth),
            ("User", self.username),
            ("Password / token", self.secret),
            ("", self.tls),
            ("TLS CA file", self.ca_file),
            ("Association timeout", self.association_timeout),
            ("DIMSE timeout", self.dimse_timeout),
        ):
            form.addRow(label, widget)
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.start_test)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        apply = QPushButton("Apply")
        apply.clicked.connect(self.apply_form)
        right = QVBoxLayout()
        right.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(apply)
        row.addWidget(self.test_button)
        right.addLayout(row)
        right.addWidget(self.status)

        body = QHBoxLayout()
        body.addLayout(left, 1)
        body.addLayout(right, 2)
        box = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        box.accepted.connect(self.save)
        box.rejected.connect(self.reject)
        outer = QVBoxLayout(self)
        outer.addLayout(body)
        outer.addWidget(box)
        if self.nodes:
            self.list.setCurrentRow(0)
        else:
            self._show_node("")

    def _show_node(self, name: str) -> None:
        node = self.nodes.get(name)
        if node is None:
            node = PacsNode(name="new", host="localhost", port=4242)
        self.name.setText(node.name)
        self.url.setText(node.url)
        self.host.setText(node.host)
        self.port.setValue(node.port)
        self.called_ae.setText(node.called_ae)
        self.calling_ae.setText(node.calling_ae)
        self.auth.setCurrentText(node.auth)
        self.username.setText(node.username)
        self.secret.setText(self._typed_secrets.get(node.name, ""))
        self.tls.setChecked(node.tls)
        self.ca_file.setText(node.tls_ca_file)
        self.association_timeout.setValue(node.association_timeout_s)
        self.dimse_timeout.setValue(node.dimse_timeout_s)

    def form_node(self) -> PacsNode:
        """The node in the form; PacsConfigError says what is wrong."""
        base = self.nodes.get(self.list.currentItem().text()) if self.list.currentItem() else None
        values = dict(
            name=self.name.text().strip(),
            url=self.url.text().strip(),
            host=self.host.text().strip(),
            port=self.port.value(),
            called_ae=self.called_ae.text(),
            calling_ae=self.calling_ae.text(),
            auth=self.auth.currentText(),
            username=self.username.text().strip(),
            tls=self.tls.isChecked(),
            tls_ca_file=self.ca_file.text().strip(),
            association_timeout_s=self.association_timeout.value(),
            dimse_timeout_s=self.dimse_timeout.value(),
        )
        return replace(base, **values) if base is not None else PacsNode(**values)  # type: ignore[arg-type]

    def apply_form(self) -> bool:
        try:
            node = self.form_node()
        except RadiviewError as exc:
            self.status.setText(f"Not applied: {exc}")
            return False
        current = self.list.currentItem()
        if current is not None and current.text() != node.name:
            self.nodes.pop(current.text(), None)
            current.setText(node.name)
        elif current is None:
            self.list.addItem(node.name)
            self.list.setCurrentRow(self.list.count() - 1)
        self.nodes[node.name] = node
        if self.secret.text():
            self._typed_secrets[node.name] = self.secret.text()
        self.status.setText(f"{node.name}: {node.address}")
        return True

    def _add(self) -> None:
        name = f"node{self.list.count() + 1}"
        self.nodes[name] = PacsNode(name=name, host="localhost", port=4242)
        self.list.addItem(name)
        self.list.setCurrentRow(self.list.count() - 1)

    def _remove(self) -> None:
        current = self.list.currentItem()
        if current is not None:
            self.nodes.pop(current.text(), None)
            self.list.takeItem(self.list.row(current))

    def start_test(self) -> None:
        """Test in a background thread: a dead server never freezes the dialog."""
        if not self.apply_form():
            return
        node = self.form_node()
        secret = self._typed_secrets.get(node.name) or self.secrets.get(node.name)
        self.test_button.setEnabled(False)
        self.status.setText(f"Testing {node.address}…")

        def run() -> None:
            try:
                self._signals.finished.emit(True, test_connection(node, secret))
            except RadiviewError as exc:
                self._signals.finished.emit(False, str(exc))
            except Exception as exc:  # shown, not swallowed
                self._signals.finished.emit(False, f"{type(exc).__name__}: {exc}")

        threading.Thread(target=run, name="radiview-pacs-test", daemon=True).start()

    def _on_test_finished(self, ok: bool, message: str) -> None:
        self.test_button.setEnabled(True)
        self.status.setText(("Connection OK: " if ok else "Connection failed: ") + message)

    def save(self) -> None:
        if not self.apply_form():
            return
        save_nodes(self.nodes)
        for name, secret in self._typed_secrets.items():
            if name in self.nodes:
                self.secrets.set(name, secret)
        self.accept()
