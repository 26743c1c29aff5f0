"""The one place numpy arrays become QImages and back (always with an explicit stride + copy)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def gray_to_qimage(gray: np.ndarray) -> QImage:
    """A 2-D uint8 array → an independent Grayscale8 QImage."""
    array = np.ascontiguousarray(gray, dtype=np.uint8)
    if array.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {array.shape}")
    height, width = array.shape
    # QImage wraps the buffer without owning it; copy() detaches it before `array` goes away.
    return QImage(array.data, width, height, array.strides[0], QImage.Format.Format_Grayscale8).copy()


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """An (H, W, 4) uint8 RGBA array (or (H, W, 3) RGB) → an independent QImage."""
    array = np.ascontiguousarray(rgba, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3|4) array, got shape {array.shape}")
    height, width, channels = array.shape
    fmt = QImage.Format.Format_RGBA8888 if channels == 4 else QImage.Format.Format_RGB888
    return QImage(array.data, width, height, array.strides[0], fmt).copy()


def qimage_to_array(image: QImage) -> np.ndarray:
    """A QImage → a new uint8 array: (H, W) for grayscale, else (H, W, 4) RGBA."""
    if image.format() == QImage.Format.Format_Grayscale8:
        channels = 1
    else:
        image = image.convertToFormat(QImage.Format.Format_RGBA8888)
        channels = 4
    height, width = image.height(), image.width()
    buffer = np.frombuffer(image.constBits(), dtype=np.uint8, count=image.sizeInBytes())
    rows = buffer.reshape(height, image.bytesPerLine())[:, : width * channels]
    shape = (height, width) if channels == 1 else (height, width, 4)
    return rows.reshape(shape).copy()
