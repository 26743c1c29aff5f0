"""Model bundle checks: every damaged, tampered or mismatched bundle is a clear ModelBundleError."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from radiview.errors import BundleIntegrityError, ModelBundleError
from radiview.inference.bundle import CARD_FILE, WEIGHTS_FILE, load_bundle, sha256_file
from radiview.inference.classifier import Classifier


@pytest.fixture
def bundle(tiny_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny bundle that a test may damage."""
    return Path(shutil.copytree(tiny_bundle, tmp_path / "bundle"))


def edit_card(bundle: Path, **changes: object) -> None:
    path = bundle / CARD_FILE
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_good_bundle_loads(bundle: Path) -> None:
    card, state = load_bundle(bundle)
    assert card.name == "tiny-random"
    assert "gate.precision" in state and state["gate.precision"].shape == (576, 576)
    assert all(v.dtype == torch.float32 for v in state.values() if v.is_floating_point())


def test_flipped_byte_is_an_integrity_error(bundle: Path) -> None:
    weights = bundle / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match="does not match the model card") as info:
        load_bundle(bundle)
    assert info.value.path == str(weights)


def test_truncated_weights_are_an_integrity_error(bundle: Path) -> None:
    weights = bundle / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(BundleIntegrityError):
        Classifier.from_bundle(bundle, device="cpu")


def test_missing_weights(bundle: Path) -> None:
    (bundle / WEIGHTS_FILE).unlink()
    with pytest.raises(ModelBundleError, match="weights file is missing"):
        load_bundle(bundle)


def test_missing_bundle_folder(tmp_path: Path) -> None:
    with pytest.raises(ModelBundleError, match="not found") as info:
        Classifier.from_bundle(tmp_path / "nowhere", device="cpu")
    assert "nowhere" in str(info.value)


def test_unknown_format_version(bundle: Path) -> None:
    edit_card(bundle, format_version=99)
    with pytest.raises(ModelBundleError, match="format_version 99 is not supported"):
        load_bundle(bundle)


def test_bad_json(bundle: Path) -> None:
    (bundle / CARD_FILE).write_text('{"name": "x", ')
    with pytest.raises(ModelBundleError, match="not valid JSON") as info:
        load_bundle(bundle)
    assert info.value.path == str(bundle / CARD_FILE)


def test_weights_file_outside_the_bundle_is_refused(bundle: Path) -> None:
    outside = bundle.parent / "elsewhere.pt"
    shutil.copy(bundle / WEIGHTS_FILE, outside)
    edit_card(bundle, weights_file="../elsewhere.pt")
    with pytest.raises(ModelBundleError, match="plain file name"):
        load_bundle(bundle)


class _Payload:
    """Pickles as a call to ``open(marker, "w")``: a stand-in for arbitrary code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (str(self.marker), "w"))


def test_malicious_pickle_with_matching_hash_never_runs(bundle: Path, tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    weights = bundle / WEIGHTS_FILE
    torch.save({"features.0.0.weight": _Payload(marker)}, weights)
    edit_card(bundle, weights_sha256=sha256_file(weights))  # the attacker controls the card too

    with pytest.raises(ModelBundleError, match="could not be loaded safely"):
        Classifier.from_bundle(bundle, device="cpu")
    assert not marker.exists()

    # Control: the payload is real, an unsafe load would have run it.
    loaded = torch.load(weights, weights_only=False)
    loaded["features.0.0.weight"].close()
    assert marker.exists()


def test_architecture_mismatch_is_a_bundle_error(bundle: Path) -> None:
    card = json.loads((bundle / CARD_FILE).read_text())
    edit_card(bundle, architecture={**card["architecture"], "hidden": 64})
    with pytest.raises(ModelBundleError, match="do not fit the card's architecture"):
        Classifier.from_bundle(bundle, device="cpu")


def test_unknown_backbone_is_a_bundle_error(bundle: Path) -> None:
    card = json.loads((bundle / CARD_FILE).read_text())
    edit_card(bundle, architecture={**card["architecture"], "backbone": "resnet50"})
    with pytest.raises(ModelBundleError, match="architecture is not supported"):
        Classifier.from_bundle(bundle, device="cpu")


def test_label_count_must_match_the_network(bundle: Path) -> None:
    edit_card(bundle, labels=["normal", "abnormal"])
    with pytest.raises(ModelBundleError, match="2 labels for a 4-class network"):
        Classifier.from_bundle(bundle, device="cpu")


def test_unknown_gradcam_layer_is_a_bundle_error(bundle: Path) -> None:
    edit_card(bundle, gradcam_target_layer="features.99")
    with pytest.raises(ModelBundleError, match=r"features\.99"):
        Classifier.from_bundle(bundle, device="cpu")


def test_unknown_gate_method_is_a_bundle_error(bundle: Path) -> None:
    edit_card(bundle, gate={"method": "autoencoder", "threshold": 1.0})
    with pytest.raises(ModelBundleError, match="unknown gate method"):
        Classifier.from_bundle(bundle, device="cpu")


def test_missing_gate_tensors_are_a_bundle_error(bundle: Path) -> None:
    weights = bundle / WEIGHTS_FILE
    state = torch.load(weights, weights_only=True)
    del state["gate.precision"]
    torch.save(state, weights)
    edit_card(bundle, weights_sha256=sha256_file(weights))
    with pytest.raises(ModelBundleError, match="lacks the gate tensors"):
        Classifier.from_bundle(bundle, device="cpu")


def test_unsupported_preprocessing_is_a_bundle_error(bundle: Path) -> None:
    edit_card(bundle, preprocessing={"input_size": [64, 64], "resize": "center_crop"})
    with pytest.raises(ModelBundleError, match="preprocessing is not supported"):
        Classifier.from_bundle(bundle, device="cpu")


def test_half_storage_keeps_the_gate_in_float32(tiny_bundle: Path, tmp_path: Path) -> None:
    from radiview.inference.bundle import write_bundle

    card, state = load_bundle(tiny_bundle)
    state["gate.precision"] = state["gate.precision"] * 1.0001  # not representable in float16
    fields = card.to_dict()
    for key in ("format_version", "weights_file", "weights_sha256"):
        fields.pop(key)
    write_bundle(tmp_path, fields, state, half=True)
    raw = torch.load(tmp_path / WEIGHTS_FILE, weights_only=True)
    assert raw["features.0.0.weight"].dtype == torch.float16
    assert raw["gate.precision"].dtype == raw["gate.class_means"].dtype == torch.float32
    _, loaded = load_bundle(tmp_path)
    assert torch.equal(loaded["gate.precision"], state["gate.precision"])
    assert torch.allclose(loaded["features.0.0.weight"], state["features.0.0.weight"], atol=1e-3)
