"""The lung segmenter's training side: masks, the patient split, augmentation, loss and Dice."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from radiview.inference.lung_network import build_lung_network, load_lung_encoder_weights, resize_lung_input
from training.lungs import apply_batch_augment, dice_per_film, lung_loss
from training.lungs_data import BACKGROUND, IGNORE, LUNG, read_lung_records, read_mask, split_lungs_by_patient


def test_mask_values_become_lung_ignore_background(tmp_path: Path) -> None:
    values = np.zeros((40, 60), np.uint8)
    values[5:35, 5:25] = 255
    values[5:35, 35:55] = 255
    values[10:14, 10:14] = 127  # a device over the left lung
    Image.fromarray(values).save(tmp_path / "m.png")
    mask = read_mask(str(tmp_path / "m.png"), (20, 30))
    assert mask.shape == (20, 30) and set(np.unique(mask)) == {BACKGROUND, IGNORE, LUNG}
    assert mask[10, 5] == LUNG and mask[0, 0] == BACKGROUND and mask[10, 15] == BACKGROUND
    assert mask[6, 6] == IGNORE


@pytest.mark.realdata
def test_split_is_by_patient_with_children_and_adults_everywhere(data_dir: Path) -> None:
    records = read_lung_records(data_dir / "lungs", data_dir / "cxr")
    assert len(records) == 1359
    assert {r.source for r in records} == {"kermany", "ieee8023"}
    parts = split_lungs_by_patient(records, seed=0)
    owner: dict[str, str] = {}
    for name, idx in parts.items():
        assert {records[i].source for i in idx} == {"kermany", "ieee8023"}, name
        for i in idx:
            assert owner.setdefault(records[i].patient_id, name) == name, records[i].patient_id
    assert sum(len(v) for v in parts.values()) == len(records)
    assert 0.1 < len(parts["test"]) / len(records) < 0.2
    assert split_lungs_by_patient(records, seed=0) == parts  # seeded


def test_augmentation_moves_film_and_mask_together() -> None:
    images = torch.zeros(8, 1, 64, 64)
    masks = torch.zeros(8, 1, 64, 64)
    images[:, :, 16:40, 10:30] = 1.0
    masks[:, :, 16:40, 10:30] = LUNG
    masks[:, :, 20:24, 12:16] = IGNORE
    gen = torch.Generator().manual_seed(3)
    out_images, out_masks = apply_batch_augment(images, masks, gen)
    assert set(torch.unique(out_masks).tolist()) <= {BACKGROUND, IGNORE, LUNG}
    assert not torch.equal(out_masks, masks)  # it did move
    bright = out_images > 0.5
    region = out_masks > 0
    iou = (bright & region).sum(dim=(1, 2, 3)).float() / (bright | region).sum(dim=(1, 2, 3)).float()
    assert iou.min() > 0.85
    assert float(out_images.min()) >= 0.0 and float(out_images.max()) <= 1.0


def test_loss_and_dice_leave_ignored_pixels_out() -> None:
    masks = torch.zeros(1, 1, 32, 32)
    masks[..., 8:24, 4:14] = LUNG
    masks[..., 8:24, 18:28] = LUNG
    masks[..., 0:4, 0:4] = IGNORE
    right = torch.where(masks == LUNG, 8.0, -8.0)
    wrong_on_ignored = right.clone()
    wrong_on_ignored[..., 0:4, 0:4] = 8.0
    assert float(lung_loss(right, masks)) == pytest.approx(
        float(lung_loss(wrong_on_ignored, masks)), abs=1e-6
    )
    assert float(lung_loss(-right, masks)) > 10 * float(lung_loss(right, masks))
    mask_np = masks[:, 0].numpy().astype(np.uint8)
    prob = (right[:, 0].sigmoid()).numpy()
    assert dice_per_film(prob, mask_np)[0] == pytest.approx(1.0)
    half = prob.copy()
    half[:, :, 18:28] = 0.0  # one lung missed: Dice = 2·160 / (160 + 320)
    assert dice_per_film(half, mask_np)[0] == pytest.approx(2 * 160 / 480)


def test_network_shape_and_encoder_weights() -> None:
    weights = Path(__file__).resolve().parents[3] / "shared" / "weights"
    net = build_lung_network(64).eval()
    x = resize_lung_input(torch.randn(2, 3, 224, 224), 160)
    assert x.shape == (2, 3, 160, 160)
    with torch.no_grad():
        assert net(x).shape == (2, 1, 40, 40)
    path = weights / "mobilenet_v3_small_imagenet_tfslim_qat.pth"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    state = torch.load(path, map_location="cpu", weights_only=True)
    load_lung_encoder_weights(net, state)
    assert torch.equal(
        net.get_parameter("features.11.block.0.0.weight"), state["features.11.block.0.0.weight"]
    )
    with pytest.raises(ValueError, match="features"):
        load_lung_encoder_weights(net, {"classifier.0.weight": torch.zeros(1)})


def test_view_thresholds_come_from_the_lowest_source_with_the_share_margin() -> None:
    from radiview.inference.card import LungSegmenterSpec
    from radiview.inference.lungs import LungLayout
    from training.lungs_export import SHARE_MARGIN, fit_thresholds, refusals

    def layouts(conf: float, share: float, n: int = 200) -> list[LungLayout]:
        steps = np.linspace(0.0, 0.02, n)
        return [LungLayout(conf + s, 0.3, share + s, True, 2) for s in steps]

    val = {"adults": layouts(0.93, 0.08), "children": layouts(0.95, 0.12)}
    min_conf, min_share = fit_thresholds(val)
    assert min_conf == pytest.approx(np.percentile([v.confidence for v in val["adults"]], 0.5), abs=1e-4)
    assert min_share == pytest.approx(
        SHARE_MARGIN * np.percentile([v.smaller_lung_share for v in val["adults"]], 0.5)
    )
    spec = LungSegmenterSpec("lungs.pt", "0" * 64, min_confidence=min_conf, min_lung_share=min_share)
    lateral = LungLayout(0.95, 0.2, 0.0, False, 1)
    counted = refusals({"adults": val["adults"], "lateral": [lateral]}, spec)
    assert counted["lateral"] == {"films": 1, "refused": 1, "refused_share": 1.0}
    assert counted["adults"]["refused"] == 1  # the lowest-confidence film lies below the 0.5th percentile
