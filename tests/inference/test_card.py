"""The model card schema: typed sections, checked in one place, open where the card grows."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision

from radiview.assets import default_model_dir
from radiview.errors import ModelBundleError
from radiview.inference.bundle import CARD_FILE, ModelCard, load_bundle, read_model_card, write_bundle
from radiview.inference.card import Architecture, GateSpec, Metrics, Preprocessing

SHIPPED_CARD = default_model_dir() / CARD_FILE


def _shipped() -> dict[str, Any]:
    return json.loads(SHIPPED_CARD.read_text(encoding="utf-8"))


def test_the_shipped_card_reads_typed_and_writes_back_unchanged() -> None:
    data = _shipped()
    card = ModelCard.from_dict(data)
    assert isinstance(card.architecture, Architecture) and card.architecture.num_classes == len(card.labels)
    assert isinstance(card.preprocessing, Preprocessing) and card.preprocessing.input_size == (224, 224)
    assert isinstance(card.gate, GateSpec) and card.gate.spatial is not None
    assert card.gate.threshold == data["gate"]["threshold"] and card.gate.spatial.grid == (2, 2)
    assert card.gate.max_colorfulness == 0.08 and card.gate.min_std == 0.02
    # Measured figures are kept apart from what the gate runs on.
    assert "ood_refusal_by_kind" in card.gate.measured and "threshold" not in card.gate.measured
    assert isinstance(card.metrics, Metrics) and card.metrics.accuracy == data["metrics"]["accuracy"]
    assert "by_source" in card.metrics.sections
    written = card.to_dict()
    assert {k: written[k] for k in data} == data  # nothing lost or changed
    assert (written["changelog"], written["torch_version"]) == ([], "")  # a 1.2.0 card has neither


def test_sections_still_read_as_mappings() -> None:
    card = ModelCard.from_dict(_shipped())
    assert card.gate["spatial"]["grid"] == [2, 2] and card.architecture["hidden"] == 2500
    assert "spatial" in card.gate and card.metrics["n"] == 934
    assert {**card.metrics, "gate": {}}["gate"] == {}
    card.gate["spatial"]["grid"].append(9)  # a copy: the card cannot be changed through it
    assert card.gate.spatial is not None and card.gate.spatial.grid == (2, 2)


def test_new_metric_sections_and_a_changelog_load() -> None:
    data = _shipped()
    data["metrics"]["leave_one_source_out"] = {"kermany": {"auc": 0.91, "n": None}}
    data["metrics"]["pneumonia_label"] = {"threshold": 0.4, "by_source": {"a": [1, 2]}}
    data["metrics"]["gate_by_source"] = {"kermany": {"acceptance": 0.99}}
    data["gate"]["refusal_by_source"] = {"x": 0.5}
    data["changelog"] = [
        {"version": "2.0.0", "date": "2026-11-26", "changes": ["adult pneumonia sources"]},
        {"version": "1.2.0", "changes": "layout check"},
    ]
    card = ModelCard.from_dict(data)
    assert card.metrics.sections["leave_one_source_out"]["kermany"]["auc"] == 0.91
    assert card.gate.measured["refusal_by_source"] == {"x": 0.5}
    assert [(e.version, e.changes) for e in card.changelog] == [
        ("2.0.0", ("adult pneumonia sources",)),
        ("1.2.0", ("layout check",)),
    ]
    assert ModelCard.from_dict(card.to_dict()) == card


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["metrics"].update(accuracy=1.7), r"metrics\.accuracy 1\.7 is not in \[0, 1\]"),
        (lambda d: d["gate"].update(threshold="far"), "could not convert|must be a number"),
        (lambda d: d["gate"].pop("threshold"), "no numeric threshold"),
        (lambda d: d["gate"].update(min_std=-1), "min_std -1"),
        (lambda d: d.update(labels=["normal", "normal", "a", "b"]), "labels must be distinct"),
        (lambda d: d.update(temperature=0), "temperature 0.0 must be > 0"),
        (lambda d: d["preprocessing"].update(input_size=[224]), "input_size must be"),
        (lambda d: d["architecture"].update(dropout=1.5), "architecture is not supported"),
        (lambda d: d.update(changelog=[{"version": "2.0.0"}]), "changelog entry needs"),
        (lambda d: d.update(gate=[1, 2]), "gate must be a JSON object"),
    ],
)
def test_bad_values_in_known_fields_are_refused(edit, message: str) -> None:  # type: ignore[no-untyped-def]
    data = _shipped()
    edit(data)
    with pytest.raises(ModelBundleError, match=message) as info:
        ModelCard.from_dict(data, source="card.json")
    assert str(info.value).startswith("card.json")


def test_write_bundle_records_the_torch_versions(tiny_bundle: Path, tmp_path: Path) -> None:
    card, state = load_bundle(tiny_bundle)
    fields = card.to_dict()
    for key in ("format_version", "weights_file", "weights_sha256", "torch_version", "torchvision_version"):
        fields.pop(key)
    written = write_bundle(tmp_path, fields, state, half=False)
    versions = (written.torch_version, written.torchvision_version)
    assert versions == (torch.__version__, torchvision.__version__)
    assert read_model_card(tmp_path) == written


def test_gate_spec_defaults_accept_any_colour() -> None:
    spec = GateSpec.from_dict({"method": "mahalanobis", "threshold": 3})
    assert (
        spec.max_colorfulness == math.inf
        and spec.spatial is None
        and spec.to_dict()
        == {
            "method": "mahalanobis",
            "threshold": 3.0,
            "min_std": 0.0,
        }
    )
