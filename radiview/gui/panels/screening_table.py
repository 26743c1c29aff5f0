"""The batch table's model: one row per screened film, named columns, the two-step reading,
capped probabilities and a risk order (COVID-19 or pneumonia first, then the unsure)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from radiview.gui.panels.prediction import DEFAULT_LABELS, label_title
from radiview.inference.flags import LOW_CONFIDENCE, flag_short_text
from radiview.inference.headline import (
    NO_PNEUMONIA_LABEL,
    build_headline,
    cause_title,
    display_probability,
    risk_key,
)
from radiview.inference.wording import human_gate_reason

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
ALL_STATUSES = "All statuses"
_STATUS_COLORS = {"ok": "#8fd18f", "refused": "#e8b04a", "error": "#ff7b7b"}
_Index = QModelIndex | QPersistentModelIndex
#: The Message column is never narrower than this (reasons are sentences).
MESSAGE_MIN_WIDTH = 420
#: Digits the screening CSV/journal keeps: live rows are shown from the same rounded value, so
#: a resumed row reads exactly as it did before the interruption.
CSV_DIGITS = 4


def message_text(result: Any) -> tuple[str, str]:
    """The Message cell in words, and its tooltip (which keeps the gate's raw figures)."""
    message = str(getattr(result, "message", "") or "")
    if getattr(result, "status", "") != "refused":
        return message, message
    words, figures = human_gate_reason(message)
    return words, f"{words}\n({figures})" if figures else words


def flags_text(result: Any) -> str:
    """The Flags cell: the reading's context warnings in a few words each (issue 14)."""
    return ", ".join(flag_short_text(code) for code in getattr(result, "flags", ()) or ())


def short_title(label: str) -> str:
    """Column titles narrow enough to keep every probability on screen, from the card's labels:
    the cause in one word ("bacterial", "COVID-19"), "no pneumonia" for the card's normal label."""
    return "No pneumonia" if label == NO_PNEUMONIA_LABEL else cause_title(label)


def reading_text(result: Any) -> str:
    """The Reading cell: step one in a few words and the likeliest cause, capped at 99 %
    ("Pneumonia 96.5 % · bacterial", "No pneumonia >99 %"), "(low)" when unsure."""
    prediction = result.prediction if result.status == "ok" else None
    headline = build_headline(prediction)
    if headline is None:
        return ""
    words = "Pneumonia" if headline.pneumonia else "No pneumonia"
    text = f"{words} {display_probability(headline.step_one_probability)}"
    if headline.pneumonia and headline.most_like:
        text += f" · {cause_title(headline.most_like)}"
    return text + (" (low confidence)" if LOW_CONFIDENCE in (result.flags or ()) else "")


def result_risk(result: Any) -> float:
    """The Reading column's sort key: COVID-19, then pneumonia, then unsure first."""
    unsure = LOW_CONFIDENCE in (getattr(result, "flags", ()) or ())
    return risk_key(result.status, result.prediction, unsure if result.status == "ok" else None)


FILE, STATUS, READING, FLAGS, MESSAGE = "file", "status", "reading", "flags", "message"
_TITLES = {FILE: "File", STATUS: "Status", READING: "Reading", FLAGS: "Flags", MESSAGE: "Message"}


class ScreeningTableModel(QAbstractTableModel):
    """One row per ScreeningRecord: file, status, reading, one column per label, flags, message.

    Columns are named (``column_ids``; a label's column is ``"p_<label>"``) so that callers
    find a column by what it is, never by its position.
    """

    def __init__(self, labels: tuple[str, ...] = DEFAULT_LABELS, parent: Any = None) -> None:
        super().__init__(parent)
        self._labels = tuple(labels)
        self._rows: list[Any] = []

    @property
    def labels(self) -> tuple[str, ...]:
        return self._labels

    @property
    def results(self) -> tuple[Any, ...]:
        return tuple(self._rows)

    def set_labels(self, labels: tuple[str, ...]) -> None:
        self.beginResetModel()
        self._labels = tuple(labels)
        self.endResetModel()

    def column_ids(self) -> list[str]:
        return [FILE, STATUS, READING, *(f"p_{label}" for label in self._labels), FLAGS, MESSAGE]

    def column(self, column_id: str) -> int:
        """The position of a named column (``"reading"``, ``"p_covid19"``, ``"message"``)."""
        return self.column_ids().index(column_id)

    def headers(self) -> list[str]:
        return [
            f"P({short_title(cid[2:])})" if cid.startswith("p_") else _TITLES[cid]
            for cid in self.column_ids()
        ]

    def clear(self) -> None:
        self.beginResetModel()
        self._rows.clear()
        self.endResetModel()

    def append(self, result: Any) -> None:
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append(result)
        self.endInsertRows()

    def result_at(self, row: int) -> Any:
        return self._rows[row]

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.column_ids())

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.headers()[section]
        return None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        result = self._rows[index.row()]
        cid = self.column_ids()[index.column()]
        if cid.startswith("p_"):
            return _probability_data(result, cid[2:], role)
        if cid == STATUS and role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(QColor(_STATUS_COLORS.get(result.status, "#ffffff")))
        if cid == READING and role == SORT_ROLE:
            return result_risk(result)
        if cid == MESSAGE:
            value, tip = message_text(result)
        else:
            value = {FILE: result.file, STATUS: result.status, READING: reading_text(result)}.get(cid, "")
            value = flags_text(result) if cid == FLAGS else value
            tip = value.replace(", ", "\n") if cid == FLAGS else value
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            return value
        if role == Qt.ItemDataRole.ToolTipRole:
            return _reading_tooltip(result) if cid == READING else tip
        return None


def _probability_data(result: Any, label: str, role: int) -> Any:
    prediction = result.prediction if result.status == "ok" else None
    p = prediction.probability(label) if prediction is not None and label in prediction.labels else None
    if role == Qt.ItemDataRole.DisplayRole:
        return "" if p is None else display_probability(round(p, CSV_DIGITS))
    if role == SORT_ROLE:
        return -1.0 if p is None else p
    if role == Qt.ItemDataRole.TextAlignmentRole:
        return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return None


def _reading_tooltip(result: Any) -> str:
    headline = build_headline(result.prediction if result.status == "ok" else None)
    return "\n".join(headline.lines()) if headline is not None else ""


class ScreeningFilterProxy(QSortFilterProxyModel):
    """Filters by free text (file, prediction, flags, message) and by status; sorts numerically."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._text = ""
        self._status = ""
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    def set_text(self, text: str) -> None:
        self._refilter(lambda: setattr(self, "_text", text.strip().lower()))

    def set_status(self, status: str) -> None:
        self._refilter(lambda: setattr(self, "_status", "" if status == ALL_STATUSES else status))

    def _refilter(self, change: Callable[[], None]) -> None:
        # Qt >= 6.10 replaced invalidateFilter() with begin/endFilterChange().
        if hasattr(self, "beginFilterChange"):
            self.beginFilterChange()
            change()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            change()
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        model = self.sourceModel()
        assert isinstance(model, ScreeningTableModel)
        result = model.result_at(source_row)
        if self._status and result.status != self._status:
            return False
        if not self._text:
            return True
        prediction = result.prediction
        top = prediction.top_label if prediction is not None and result.status == "ok" else ""
        words = message_text(result)[0]
        haystack = " ".join([result.file, result.status, top or "", label_title(top or ""), result.message])
        haystack += " " + words + " " + flags_text(result) + " " + reading_text(result)
        return self._text in haystack.lower()
