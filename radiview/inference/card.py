"""The model card's typed sections: ``Architecture``, ``Preprocessing``, ``GateSpec``,
``Metrics`` and ``ChangelogEntry``, each parsing and checking its own JSON.

``radiview.inference.bundle.ModelCard.from_dict`` is the one place a card is checked: it
runs these parsers and turns any problem into one ModelBundleError naming the card file.
Code after that reads typed attributes (``card.gate.threshold``,
``card.architecture.num_classes``).

Each section also reads as a read-only mapping of its JSON form (``card.gate["spatial"]``),
so code written against the dict cards keeps working; ``to_dict`` gives the JSON.

Open where the card grows: ``Metrics`` types the headline figures and keeps every other
section (``by_source``, ``leave_one_source_out``, ...) as it came, and ``GateSpec`` keeps
measured figures and notes apart from the values the gate runs on. Unknown keys never break
loading; wrong values in known ones always do.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

GATE_METHODS = ("mahalanobis",)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CardSection(Mapping[str, Any]):
    """A section that also reads as a read-only mapping of its JSON form (fresh copies)."""

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())


def _number(data: Mapping[str, Any], key: str, default: float | None = None) -> float:
    value = data.get(key, default)
    if value is None or isinstance(value, bool):
        raise ValueError(f"{key} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{key} must be finite, got {value!r}")
    return number


def _known(section: Any) -> set[str]:
    return {f.name for f in fields(section)}


@dataclass(frozen=True)
class Architecture(CardSection):
    """The network: MobileNetV3-Small features and the paper's head."""

    backbone: str = "mobilenet_v3_small"
    num_classes: int = 4
    hidden: int = 2500
    dropout: float = 0.5

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Architecture:
        arch = cls(
            backbone=str(data.get("backbone", "mobilenet_v3_small")),
            num_classes=int(data.get("num_classes", 4)),
            hidden=int(data.get("hidden", 2500)),
            dropout=_number(data, "dropout", 0.5),
        )
        if arch.backbone != "mobilenet_v3_small":
            raise ValueError(f"unsupported backbone {arch.backbone!r}")
        if arch.num_classes < 2 or arch.hidden < 1 or not 0.0 <= arch.dropout < 1.0:
            raise ValueError(f"num_classes {arch.num_classes}, hidden {arch.hidden}, dropout {arch.dropout}")
        return arch

    def to_dict(self) -> dict[str, Any]:
        return {
            "backbone": self.backbone,
            "num_classes": self.num_classes,
            "hidden": self.hidden,
            "dropout": self.dropout,
        }


@dataclass(frozen=True)
class Preprocessing(CardSection):
    """How a radiograph becomes a tensor (``radiview.inference.preprocess`` runs it)."""

    input_size: tuple[int, int] = (224, 224)  # (height, width)
    resize: str = "stretch"  # the whole film fills the input; no crop, so heatmaps map back 1:1
    intensity: str = "default_window"  # the film's default window (DICOM tags or percentiles)
    channels: int = 3
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Preprocessing:
        size = tuple(int(v) for v in data.get("input_size", (224, 224)))
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"input_size must be [height, width], got {list(size)}")
        cfg = cls(
            input_size=(size[0], size[1]),
            resize=str(data.get("resize", "stretch")),
            intensity=str(data.get("intensity", "default_window")),
            channels=int(data.get("channels", 3)),
            mean=tuple(float(v) for v in data.get("mean", IMAGENET_MEAN)),
            std=tuple(float(v) for v in data.get("std", IMAGENET_STD)),
        )
        if cfg.resize != "stretch" or cfg.intensity != "default_window":
            raise ValueError(f"unsupported preprocessing {cfg.resize!r}/{cfg.intensity!r}")
        if len(cfg.mean) != cfg.channels or len(cfg.std) != cfg.channels:
            raise ValueError("mean/std must have one value per channel")
        if not all(s > 0 for s in cfg.std):
            raise ValueError(f"std must be > 0, got {list(cfg.std)}")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "resize": self.resize,
            "intensity": self.intensity,
            "channels": self.channels,
            "mean": list(self.mean),
            "std": list(self.std),
        }


@dataclass(frozen=True)
class SpatialGateSpec(CardSection):
    """The layout check (bundles >= 1.2.0): a Mahalanobis distance on pooled feature cells."""

    grid: tuple[int, int]
    channels: int
    threshold: float
    method: str = "mahalanobis"
    notes: Mapping[str, Any] = field(default_factory=dict)  # what it was fitted on, descriptions

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SpatialGateSpec:
        method = str(data.get("method", "mahalanobis"))
        if method not in GATE_METHODS:
            raise ValueError(f"unknown method {method!r}")
        rows, cols = (int(v) for v in data["grid"])
        spec = cls(
            grid=(rows, cols),
            channels=int(data["channels"]),
            threshold=_number(data, "threshold"),
            method=method,
            notes={k: copy.deepcopy(v) for k, v in data.items() if k not in _known(cls)},
        )
        if rows < 1 or cols < 1 or spec.channels < 1:
            raise ValueError(f"grid {rows}×{cols} with {spec.channels} channels")
        return spec

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "grid": list(self.grid),
            "channels": self.channels,
            "threshold": self.threshold,
            **copy.deepcopy(dict(self.notes)),
        }


@dataclass(frozen=True)
class GateSpec(CardSection):
    """What the input gate runs on; ``measured`` keeps the figures and notes about it
    (OOD refusal rates, test acceptance, what it was fitted on), which change no verdict."""

    threshold: float
    method: str = "mahalanobis"
    min_std: float = 0.0
    max_colorfulness: float = math.inf
    acceptance_rate: float | None = None  # the share of val films it was set to accept
    spatial: SpatialGateSpec | None = None
    measured: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateSpec:
        method = data.get("method")
        if method not in GATE_METHODS:
            raise ValueError(f"unknown gate method {method!r}")
        if "threshold" not in data:
            raise ValueError("the gate has no numeric threshold")
        try:
            spatial = SpatialGateSpec.from_dict(data["spatial"]) if data.get("spatial") else None
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"model card's spatial gate is invalid: {exc}") from exc
        rate = data.get("acceptance_rate")
        spec = cls(
            threshold=_number(data, "threshold"),
            method=str(method),
            min_std=_number(data, "min_std", 0.0),
            max_colorfulness=float(data.get("max_colorfulness", math.inf)),
            acceptance_rate=None if rate is None else _number(data, "acceptance_rate"),
            spatial=spatial,
            measured={k: copy.deepcopy(v) for k, v in data.items() if k not in _known(cls)},
        )
        if spec.min_std < 0 or not spec.max_colorfulness >= 0:
            raise ValueError(f"min_std {spec.min_std} and max_colorfulness {spec.max_colorfulness}")
        return spec

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "threshold": self.threshold, "min_std": self.min_std}
        if math.isfinite(self.max_colorfulness):
            out["max_colorfulness"] = self.max_colorfulness
        if self.acceptance_rate is not None:
            out["acceptance_rate"] = self.acceptance_rate
        if self.spatial is not None:
            out["spatial"] = self.spatial.to_dict()
        return {**out, **copy.deepcopy(dict(self.measured))}


@dataclass(frozen=True)
class Metrics(CardSection):
    """Figures on the test split: the headline ones typed and range-checked; every other
    section (``per_class``, ``ci95``, ``by_source``, ``leave_one_source_out``, …) kept as it
    came, in ``sections``, so a newer card's figures never break loading."""

    split: str = ""
    n: int | None = None
    accuracy: float | None = None
    macro_auc: float | None = None
    sections: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Metrics:
        metrics = cls(
            split=str(data.get("split", "")),
            n=None if data.get("n") is None else int(data["n"]),
            accuracy=None if data.get("accuracy") is None else _number(data, "accuracy"),
            macro_auc=None if data.get("macro_auc") is None else _number(data, "macro_auc"),
            sections={k: copy.deepcopy(v) for k, v in data.items() if k not in _known(cls)},
        )
        for name in ("accuracy", "macro_auc"):
            value = getattr(metrics, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"metrics.{name} {value} is not in [0, 1]")
        if metrics.n is not None and metrics.n < 0:
            raise ValueError(f"metrics.n {metrics.n} is negative")
        return metrics

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.split:
            out["split"] = self.split
        for name in ("n", "accuracy", "macro_auc"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return {**out, **copy.deepcopy(dict(self.sections))}


@dataclass(frozen=True)
class ChangelogEntry(CardSection):
    """One released model version and what changed in it."""

    version: str
    changes: tuple[str, ...]
    date: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ChangelogEntry:
        changes = data.get("changes", ())
        items = (changes,) if isinstance(changes, str) else tuple(str(c) for c in changes)
        if not str(data.get("version", "")) or not items:
            raise ValueError(f"changelog entry needs a version and changes, got {dict(data)}")
        return cls(version=str(data["version"]), changes=items, date=str(data.get("date", "")))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version}
        if self.date:
            out["date"] = self.date
        return {**out, "changes": list(self.changes)}


@dataclass(frozen=True)
class LungSegmenterSpec(CardSection):
    """The bundle's lung segmenter (card ``lung_segmenter``, bundles >= 2.1.0; optional).

    ``min_confidence`` and ``min_lung_share`` are the frontal-layout thresholds, fixed on frontal
    validation films; everything else (Dice per source, the recipe, limits, attention figures)
    is kept in ``measured`` as it came."""

    weights_file: str
    weights_sha256: str
    architecture: str = "mobilenet_v3_small_unet4"
    width: int = 64
    input_size: tuple[int, int] = (160, 160)
    min_confidence: float = 0.0
    min_lung_share: float = 0.0
    measured: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LungSegmenterSpec:
        size = tuple(int(v) for v in data.get("input_size", (160, 160)))
        spec = cls(
            weights_file=str(data["weights_file"]),
            weights_sha256=str(data["weights_sha256"]).lower(),
            architecture=str(data.get("architecture", "mobilenet_v3_small_unet4")),
            width=int(data.get("width", 64)),
            input_size=(size[0], size[1]) if len(size) == 2 else (0, 0),
            min_confidence=_number(data, "min_confidence", 0.0),
            min_lung_share=_number(data, "min_lung_share", 0.0),
            measured={k: copy.deepcopy(v) for k, v in data.items() if k not in _known(cls)},
        )
        if spec.architecture != "mobilenet_v3_small_unet4" or spec.width < 4 or min(spec.input_size) < 32:
            raise ValueError(f"unsupported lung segmenter {spec.architecture!r} width {spec.width} {size}")
        if len(spec.weights_sha256) != 64 or not 0.0 <= spec.min_confidence <= 1.0:
            raise ValueError("lung segmenter needs a 64-hex SHA-256 and min_confidence in [0, 1]")
        return spec

    def to_dict(self) -> dict[str, Any]:
        return {
            "weights_file": self.weights_file,
            "weights_sha256": self.weights_sha256,
            "architecture": self.architecture,
            "width": self.width,
            "input_size": list(self.input_size),
            "min_confidence": self.min_confidence,
            "min_lung_share": self.min_lung_share,
            **copy.deepcopy(dict(self.measured)),
        }
