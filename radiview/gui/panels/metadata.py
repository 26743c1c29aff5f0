"""Film metadata: key tags at a glance, and the full DICOM tag list on request."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

#: Metadata keys that identify the patient (left out of exports when stripping is on).
IDENTIFYING_KEYS = frozenset(
    k.lower()
    for k in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientBirthTime",
        "OtherPatientIDs",
        "OtherPatientNames",
        "PatientAddress",
        "PatientTelephoneNumbers",
        "AccessionNumber",
        "MedicalRecordLocator",
        "ReferringPhysicianName",
        "InstitutionName",
        "InstitutionAddress",
        "Institution",
        # Quasi-identifiers: with a site and a date, age and sex single a patient out.
        "PatientAge",
        "Age",
        "PatientSex",
        "Sex",
        "StudyDate",
        "StudyTime",
        "SeriesDate",
        "AcquisitionDate",
        "ContentDate",
        "StudyID",
        "StudyDescription",
        "SeriesDescription",
    )
)


def is_identifying(key: str) -> bool:
    """True for patient-identifying metadata keys, however io spells them."""
    compact = "".join(ch for ch in key.lower() if ch.isalnum())
    return (
        compact in IDENTIFYING_KEYS or "birth" in compact or compact.startswith(("patientname", "patientid"))
    )


def describe_radiograph(radiograph: Any, strip_identifiers: bool = False) -> list[tuple[str, str]]:
    """(field, value) rows for display or export: image facts, then the file's metadata."""
    rows, cols = radiograph.shape
    spacing = radiograph.pixel_spacing_mm
    facts = [
        ("File", radiograph.name),
        ("Kind", "DICOM" if radiograph.kind == "dicom" else "Image"),
        ("Size", f"{cols} × {rows} px"),
        ("Bits stored", str(radiograph.bits_stored)),
        ("Photometric", radiograph.photometric),
        (
            "Pixel spacing",
            f"{spacing[0]:.3f} × {spacing[1]:.3f} mm" if spacing else "unknown (lengths in px)",
        ),
        ("View", radiograph.view_position or "not recorded"),
        (
            "File window",
            f"W {radiograph.default_window.width:.0f} / L {radiograph.default_window.center:.0f}",
        ),
    ]
    if radiograph.was_color:
        facts.append(("Colour input", "converted to grayscale"))
    for key, value in radiograph.metadata.items():
        if key in _COVERED_KEYS or (strip_identifiers and is_identifying(key)):
            continue
        facts.append((_field_title(str(key)), str(value)))
    return facts


#: io metadata keys already shown by the facts above.
_COVERED_KEYS = frozenset({"size", "bits", "photometric", "view_position", "pixel_spacing", "colorfulness"})


def _field_title(key: str) -> str:
    """ "patient_name" → "Patient name" (io's keys are snake_case)."""
    return key.replace("_", " ").capitalize() if key.islower() else key


class MetadataPanel(QWidget):
    """Two tabs: key facts/tags for the film, and every DICOM tag (loaded on request)."""

    all_tags_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs)

        self.key_table = QTableWidget(0, 2)
        self.key_table.setHorizontalHeaderLabels(["Field", "Value"])
        self.key_table.verticalHeader().hide()
        self.key_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.key_table.horizontalHeader().setStretchLastSection(True)
        self.key_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.key_table.setWordWrap(False)
        self.tabs.addTab(self.key_table, "Key tags")

        all_tab = QWidget()
        all_layout = QVBoxLayout(all_tab)
        all_layout.setContentsMargins(0, 4, 0, 0)
        self.load_button = QPushButton("Show all DICOM tags")
        self.load_button.clicked.connect(self.all_tags_requested)
        all_layout.addWidget(self.load_button)
        self.tag_filter = QLineEdit()
        self.tag_filter.setPlaceholderText("Filter tags…")
        self.tag_filter.setClearButtonEnabled(True)
        all_layout.addWidget(self.tag_filter)
        self.tag_model = QStandardItemModel(0, 4, self)
        self.tag_model.setHorizontalHeaderLabels(["Tag", "Name", "VR", "Value"])
        self.tag_proxy = QSortFilterProxyModel(self)
        self.tag_proxy.setSourceModel(self.tag_model)
        self.tag_proxy.setFilterKeyColumn(-1)
        self.tag_proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.tag_filter.textChanged.connect(self.tag_proxy.setFilterFixedString)
        self.tag_view = QTableView()
        self.tag_view.setModel(self.tag_proxy)
        self.tag_view.verticalHeader().hide()
        self.tag_view.horizontalHeader().setStretchLastSection(True)
        self.tag_view.setSortingEnabled(True)
        # Qt's default indicator is descending; tags read in file order, (0008,…) first.
        self.tag_view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.tag_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.tag_view.setWordWrap(False)
        self.tag_view.setEditTriggers(QTableView.EditTrigger.NoEditTriggers)
        all_layout.addWidget(self.tag_view)
        self.tag_note = QLabel("")
        all_layout.addWidget(self.tag_note)
        self.tabs.addTab(all_tab, "All tags")
        self.show_radiograph(None)

    def show_radiograph(self, radiograph: Any) -> None:
        self.tag_model.removeRows(0, self.tag_model.rowCount())
        rows = describe_radiograph(radiograph) if radiograph is not None else []
        self.key_table.setRowCount(len(rows))
        for i, (key, value) in enumerate(rows):
            self.key_table.setItem(i, 0, QTableWidgetItem(key))
            item = QTableWidgetItem(value)
            item.setToolTip(value)
            self.key_table.setItem(i, 1, item)
        is_dicom = radiograph is not None and radiograph.kind == "dicom"
        self.load_button.setEnabled(is_dicom)
        self.tag_note.setText("" if is_dicom or radiograph is None else "Not a DICOM file: no tags.")

    def show_tags(self, tags: tuple[tuple[str, str, str, str], ...]) -> None:
        self.tag_model.removeRows(0, self.tag_model.rowCount())
        for row in tags:
            items = [QStandardItem(v) for v in row]
            items[3].setToolTip(row[3])
            self.tag_model.appendRow(items)
        self.tabs.setCurrentIndex(1)
        self.tag_view.resizeColumnsToContents()
        # Tag, name and VR stay narrow enough that the Value column is always on screen
        # (the panel's width: the view's own is not laid out until its tab shows).
        name_cap = max(90, self.width() // 3)
        for column, widest in ((0, 100), (1, name_cap), (2, 40)):
            self.tag_view.setColumnWidth(column, min(self.tag_view.columnWidth(column), widest))
        header = self.tag_view.horizontalHeader()
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.tag_note.setText(f"{len(tags)} tags")

    def key_rows(self) -> list[tuple[str, str]]:
        return [
            (self.key_table.item(i, 0).text(), self.key_table.item(i, 1).text())
            for i in range(self.key_table.rowCount())
        ]
