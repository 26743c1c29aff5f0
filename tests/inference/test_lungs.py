"""The lung field: clipping a heatmap to it, the two-lung layout, the bundle's segmenter (SHA-256,
safe loading, older cards) and, on real films with the shipped weights, Dice, the view check and
the Classifier's clipped Grad-CAM."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from radiview.assets import default_model_dir
from radiview.errors import BundleIntegrityError, ModelBundleError
from radiview.inference.bundle import read_model_card, sha256_file
from radiview.inference.card import LungSegmenterSpec, Preprocessing
from radiview.inference.classifier import Classifier
from radiview.inference.gate import REASON_NOT_FRONTAL, gate_verdict
from radiview.inference.lung_network import build_lung_network
from radiview.inference.lungs import apply_lung_clip, is_frontal_layout, read_lung_layout
from radiview.io.radiograph import Radiograph


def two_lungs(size: int = 160, gap: int = 20) -> np.ndarray:
    """A probability map with two upright ellipses left and right of the midline."""
    y, x = np.mgrid[0:size, 0:size] / size
    left = ((x - 0.5 + gap / size / 2 + 0.17) / 0.17) ** 2 + ((y - 0.5) / 0.33) ** 2 <= 1
    right = ((x - 0.5 - gap / size / 2 - 0.17) / 0.17) ** 2 + ((y - 0.5) / 0.33) ** 2 <= 1
    return np.where(left | right, 0.97, 0.02).astype(np.float32)


def test_clip_zeroes_outside_the_widened_field_and_reports_the_share() -> None:
    lungs = np.zeros((100, 100), bool)
    lungs[20:80, 10:40] = True
    heat = np.zeros((200, 400), np.float32)  # another resolution: the mask is stretched to it
    heat[40:160, 20:160] = 1.0  # over the left "lung" (cols 40-160 at 400 px) and 20 cols beside it
    heat[0:20, 300:400] = 1.0  # far outside
    clipped, outside = apply_lung_clip(heat, lungs, dilate_frac=0.03)
    assert clipped.shape == heat.shape and clipped.dtype == np.float32
    # outside: the far block and cols 20-28 (the field is widened by 3 px of 100 = 12 px of 400)
    assert outside == pytest.approx((2000 + 8 * 120) / (120 * 140 + 2000), abs=0.01)
    assert clipped[0:20, 300:400].max() == 0.0 and clipped[100, 100] == 1.0
    assert clipped[100, 30] == 1.0 and clipped[100, 24] == 0.0
    heat2 = np.ones((100, 100), np.float32)
    clipped2, _ = apply_lung_clip(heat2, lungs, dilate_frac=0.03)
    assert clipped2[50, 42] == 1.0 and clipped2[50, 44] == 0.0  # 3 px beyond col 39, not 5
    empty, share = apply_lung_clip(np.zeros((10, 10), np.float32), lungs[:10, :10])
    assert share == 0.0 and not empty.any()


def test_layout_tells_two_lungs_from_one_field_or_a_stack() -> None:
    frontal = read_lung_layout(two_lungs())
    assert frontal.side_by_side and frontal.confidence == pytest.approx(0.97)
    assert frontal.smaller_lung_share > 0.1
    one = two_lungs()
    one[:, 80:] = 0.02  # one lung field only, as on a lateral
    assert not read_lung_layout(one).side_by_side
    stacked = np.full((160, 160), 0.02, np.float32)
    stacked[10:60, 40:120] = 0.9
    stacked[90:150, 40:120] = 0.9
    assert not read_lung_layout(stacked).side_by_side
    spec = LungSegmenterSpec("lungs.pt", "0" * 64, min_confidence=0.9, min_lung_share=0.05)
    assert is_frontal_layout(frontal, spec)
    unsure = read_lung_layout(np.where(two_lungs() > 0.5, 0.6, 0.02).astype(np.float32))
    assert unsure.side_by_side and not is_frontal_layout(unsure, spec)


def test_gate_refuses_a_film_the_segmenter_finds_not_frontal() -> None:
    gate = {"method": "mahalanobis", "threshold": 10.0}
    assert gate_verdict(1.0, 0.2, gate, frontal_layout=False).reason == REASON_NOT_FRONTAL
    assert not gate_verdict(1.0, 0.2, gate, frontal_layout=False).accepted
    assert gate_verdict(1.0, 0.2, gate, frontal_layout=True).accepted
    assert gate_verdict(1.0, 0.2, gate, frontal_layout=None).accepted  # no segmenter: no check


def _bundle_with_segmenter(src: Path, out: Path, width: int = 8) -> Path:
    shutil.copytree(src, out)
    torch.manual_seed(0)
    net = build_lung_network(width)
    torch.save(
        {k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}, out / "lungs.pt"
    )
    card = json.loads((out / "model_card.json").read_text(encoding="utf-8"))
    card["lung_segmenter"] = {
        "weights_file": "lungs.pt",
        "weights_sha256": sha256_file(out / "lungs.pt"),
        "width": width,
        "input_size": [64, 64],
        "min_confidence": 0.5,
        "min_lung_share": 0.01,
        "dice": {"test": {"kermany": {"dice_mean": 0.5}}},
    }
    (out / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    return out


def test_segmenter_loads_through_the_bundle_with_its_hash(
    tiny_classifier_bundle: Path, tmp_path: Path, make_radiograph: Callable[..., Radiograph]
) -> None:
    bundle = _bundle_with_segmenter(tiny_classifier_bundle, tmp_path / "b")
    card = read_model_card(bundle)
    assert card.lung_segmenter is not None and card.lung_segmenter.width == 8
    assert card.lung_segmenter.measured["dice"]["test"]["kermany"]["dice_mean"] == 0.5
    assert card.to_dict()["lung_segmenter"]["input_size"] == [64, 64]
    clf = Classifier.from_bundle(bundle, device="cpu")
    assert clf.lung_segmenter is not None
    film = make_radiograph(shape=(120, 90))
    field = clf.lung_segmenter.segment(film)
    assert field.mask.shape == (120, 90) and field.probability.shape == (64, 64)
    assert not field.mask.flags.writeable
    # a random network finds no confident two-lung layout: no clipping and no share claimed
    explanation = clf.explain(film)
    assert not field.confident and explanation.outside_lung_share is None
    assert clf.predict(film).gate.reason == REASON_NOT_FRONTAL
    # a tampered file is refused before torch.load
    (bundle / "lungs.pt").write_bytes((bundle / "lungs.pt").read_bytes()[:-8] + b"\0" * 8)
    with pytest.raises(BundleIntegrityError, match="lung segmenter SHA-256"):
        Classifier.from_bundle(bundle, device="cpu")


def test_older_cards_without_a_segmenter_still_load(tiny_classifier_bundle: Path) -> None:
    card = read_model_card(tiny_classifier_bundle)
    assert card.lung_segmenter is None and "lung_segmenter" not in card.to_dict()
    clf = Classifier.from_bundle(tiny_classifier_bundle, device="cpu")
    assert clf.lung_segmenter is None


def test_a_bad_segmenter_section_names_the_card(tiny_classifier_bundle: Path, tmp_path: Path) -> None:
    bundle = _bundle_with_segmenter(tiny_classifier_bundle, tmp_path / "b")
    card = json.loads((bundle / "model_card.json").read_text(encoding="utf-8"))
    card["lung_segmenter"]["weights_sha256"] = "abc"
    (bundle / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(ModelBundleError, match="lung_segmenter is invalid"):
        read_model_card(bundle)


# -- the shipped segmenter on real films ------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Classifier:
    card = read_model_card(default_model_dir())
    if card.lung_segmenter is None:
        pytest.fail("the bundled card has no lung_segmenter section")
    return Classifier.from_bundle(default_model_dir(), device="cpu")


@pytest.mark.realdata
def test_shipped_segmenter_finds_the_hand_drawn_lungs(shipped: Classifier, data_dir: Path) -> None:
    """Films of the segmenter's test split (patient-level), one per source: Dice at film size."""
    from radiview.io import load_radiograph
    from training.lungs_data import LUNG, read_lung_records, read_mask, split_lungs_by_patient

    assert shipped.lung_segmenter is not None
    records = read_lung_records(data_dir / "lungs", data_dir / "cxr")
    test = [records[i] for i in split_lungs_by_patient(records, seed=0)["test"]]
    for source in ("kermany", "ieee8023"):
        for record in [r for r in test if r.source == source][:3]:
            film = load_radiograph(record.film)
            field = shipped.lung_segmenter.segment(film)
            truth = read_mask(record.mask, film.shape)
            keep = truth != 1  # devices over the lungs: left out, as in training
            inter = (field.mask & (truth == LUNG) & keep).sum()
            dice = 2 * inter / ((field.mask & keep).sum() + ((truth == LUNG) & keep).sum())
            assert dice > 0.85, f"{record.film}: Dice {dice:.3f}"
            assert field.confident, record.film


@pytest.mark.realdata
def test_shipped_view_check_refuses_a_lateral(shipped: Classifier, data_dir: Path) -> None:
    from radiview.io import load_radiograph

    assert shipped.lung_segmenter is not None
    lateral = load_radiograph(data_dir / "ood" / "lateral" / "ieee8023" / "000002-16.jpg")
    assert not shipped.lung_segmenter.segment(lateral).confident
    assert shipped.predict(lateral).gate.reason == REASON_NOT_FRONTAL


@pytest.mark.realdata
def test_shipped_explanation_is_clipped_to_the_lungs(shipped: Classifier, data_dir: Path) -> None:
    """Issue 21 item 5: the map stays inside the (3%-widened) lung field, and the share that was
    outside before clipping is what ``apply_lung_clip`` measures on the raw Grad-CAM."""
    from radiview.inference.explain import resize_heatmap
    from radiview.io import load_radiograph

    assert shipped.lung_segmenter is not None
    film = load_radiograph(data_dir / "samples" / "normal__kermany__IM-0675-0001.jpeg")
    explanation = shipped.explain(film)
    assert explanation.outside_lung_share is not None
    batch = shipped.preprocess(film).unsqueeze(0)
    lungs = shipped.lung_segmenter.probabilities(batch)[0]
    raw = resize_heatmap(shipped.gradcam_maps(batch)[0], film.shape)
    expected, share = apply_lung_clip(raw, lungs >= 0.5)
    assert explanation.outside_lung_share == pytest.approx(share, abs=1e-4)
    assert np.allclose(explanation.heatmap, expected, atol=1e-4)
    _, again = apply_lung_clip(explanation.heatmap, lungs >= 0.5)
    assert again == pytest.approx(0.0, abs=1e-6)
    # batch screening's thumbnails can ask for the same clipping at the input size
    thumb = shipped.gradcam_maps(batch, clip_to_lungs=True)[0]
    assert thumb.shape == (224, 224) and apply_lung_clip(thumb, lungs >= 0.5)[1] == pytest.approx(
        0.0, abs=1e-6
    )
    assert shipped.gradcam_maps(batch)[0].sum() > thumb.sum()
    assert Preprocessing().input_size == shipped.preprocess_config.input_size
