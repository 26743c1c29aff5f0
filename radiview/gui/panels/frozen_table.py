"""A table whose first column stays put while the others scroll (Qt's "frozen column" example).

The batch table's File column scrolled away when a reader scrolled right to read a Message;
here a second view, stacked over the first column, shows that column only and follows the
main view's rows, selection, sizes and sorting.
"""

from __future__ import annotations

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget


class FrozenColumnTableView(QTableView):
    """A QTableView with column 0 frozen on the left (``frozen_view``)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.frozen_view = QTableView(self)
        self.frozen_view.setObjectName("frozenFileColumn")
        self.frozen_view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.frozen_view.verticalHeader().hide()
        self.frozen_view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.frozen_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.frozen_view.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.frozen_view.setStyleSheet("QTableView { border: none; border-right: 1px solid #777; }")
        self.viewport().stackUnder(self.frozen_view)
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.frozen_view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.horizontalHeader().sectionResized.connect(self._on_section_resized)
        self.verticalHeader().sectionResized.connect(
            lambda row, _old, new: self.frozen_view.setRowHeight(row, new)
        )
        self.frozen_view.verticalScrollBar().valueChanged.connect(self.verticalScrollBar().setValue)
        self.verticalScrollBar().valueChanged.connect(self.frozen_view.verticalScrollBar().setValue)
        self.frozen_view.doubleClicked.connect(self.doubleClicked)
        self.frozen_view.horizontalHeader().sectionClicked.connect(self._on_frozen_header_clicked)
        self.horizontalHeader().sortIndicatorChanged.connect(self._mirror_sort_indicator)

    def setWordWrap(self, on: bool) -> None:
        super().setWordWrap(on)
        self.frozen_view.setWordWrap(on)

    def setTextElideMode(self, mode: Qt.TextElideMode) -> None:
        super().setTextElideMode(mode)
        self.frozen_view.setTextElideMode(mode)

    def setModel(self, model: QAbstractItemModel | None) -> None:
        super().setModel(model)
        self.frozen_view.setModel(model)
        self.frozen_view.setSelectionModel(self.selectionModel())
        if model is not None:
            model.columnsInserted.connect(self._hide_unfrozen)
            model.modelReset.connect(self._hide_unfrozen)
            model.layoutChanged.connect(self._hide_unfrozen)
        self._hide_unfrozen()

    def _hide_unfrozen(self, *_args: object) -> None:
        model = self.model()
        if model is None:
            return
        for column in range(model.columnCount()):
            self.frozen_view.setColumnHidden(column, column != 0)
        self.frozen_view.setColumnWidth(0, self.columnWidth(0))
        self.update_frozen_geometry()

    def _on_section_resized(self, column: int, _old: int, new: int) -> None:
        if column == 0:
            self.frozen_view.setColumnWidth(0, new)
            self.update_frozen_geometry(new)  # columnWidth(0) may still say the old size here

    def _on_frozen_header_clicked(self, column: int) -> None:
        header = self.horizontalHeader()
        ascending = header.sortIndicatorSection() != column or (
            header.sortIndicatorOrder() == Qt.SortOrder.DescendingOrder
        )
        self.sortByColumn(column, Qt.SortOrder.AscendingOrder if ascending else Qt.SortOrder.DescendingOrder)

    def _mirror_sort_indicator(self, column: int, order: Qt.SortOrder) -> None:
        frozen = self.frozen_view.horizontalHeader()
        frozen.setSortIndicatorShown(column == 0)
        frozen.setSortIndicator(column, order)

    def update_frozen_geometry(self, width: int | None = None) -> None:
        self.frozen_view.setGeometry(
            self.verticalHeader().width() + self.frameWidth(),
            self.frameWidth(),
            self.columnWidth(0) if width is None else width,
            self.viewport().height() + self.horizontalHeader().height(),
        )

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.update_frozen_geometry()

    def scrollTo(
        self,
        index: QModelIndex | QPersistentModelIndex,
        hint: QAbstractItemView.ScrollHint = QAbstractItemView.ScrollHint.EnsureVisible,
    ) -> None:
        if index.column() > 0:  # column 0 is always in view
            super().scrollTo(index, hint)
