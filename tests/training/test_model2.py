"""Model 2.0's training parts: the set-valued target, leave-one-source-out, burned-in marks, batched
augmentation on the device, the prepared pack, and the export check on a network that differs from
the input's dtype/device."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from radiview.inference.preprocess import PreprocessConfig, to_input_tensor
from training.args import get_args_parser
from training.batch_augment import BatchAugment
from training.burned_text import RandBurnedText, draw_markers, marker_bank
from training.data.dataset import ImageCache, prepare_films, read_prepared
from training.data.sources import Record, read_manifest
from training.device_batches import DeviceFilmBatches, normalise
from training.holdout import split_off_holdout
from training.pack import pack_manifest
from training.sampler import balanced_indices
from training.targets import PNEUMONIA, TARGETS, SetValuedCrossEntropy, hits, set_valued_report
from training.train import main as train_main

from .conftest import TINY, make_film

# ------------------------------------------------------------------------------------ set-valued target


def test_set_valued_loss_is_minus_log_of_the_sets_probability() -> None:
    torch.manual_seed(0)
    logits = torch.randn(6, 4, dtype=torch.float64)
    targets = torch.tensor([0, 1, 2, 3, PNEUMONIA, PNEUMONIA])
    loss = SetValuedCrossEntropy()(logits, targets)
    p = torch.softmax(logits, dim=1)
    expected = torch.cat([-torch.log(p[torch.arange(4), torch.arange(4)]), -torch.log(p[4:, 1] + p[4:, 2])])
    assert float(loss) == pytest.approx(float(expected.mean()), rel=1e-6)
    # single labels: exactly the usual cross-entropy
    single = SetValuedCrossEntropy()(logits[:4], targets[:4])
    assert float(single) == pytest.approx(float(torch.nn.functional.cross_entropy(logits[:4], targets[:4])))


def test_set_valued_gradient_moves_mass_from_normal_and_covid_to_the_pneumonias_only() -> None:
    logits = torch.zeros(1, 4, requires_grad=True)
    SetValuedCrossEntropy()(logits, torch.tensor([PNEUMONIA])).backward()
    grad = logits.grad[0]
    assert grad[0] > 0 and grad[3] > 0  # descent lowers normal and COVID-19
    assert grad[1] < 0 and grad[2] < 0 and grad[1] == pytest.approx(grad[2])  # raises both, equally


def test_hits_and_the_set_valued_report() -> None:
    targets = np.array([PNEUMONIA] * 4 + [0])
    predicted = np.array([1, 2, 3, 0, 0])
    assert hits(predicted, targets).tolist() == [True, True, False, False, True]
    probs = np.eye(4)[predicted]
    report = set_valued_report(probs, targets, ["nih"] * 5)
    assert report["pneumonia"]["n"] == 4
    assert report["pneumonia"]["called_covid19"] == 0.25
    assert report["pneumonia"]["called_bacterial_or_viral"] == 0.5
    assert report["pneumonia"]["called_normal"] == 0.25
    assert report["pneumonia"]["by_source"]["nih"]["n"] == 4


def test_manifest_label_pneumonia_is_read_as_the_set_valued_target(tmp_path: Path) -> None:
    (tmp_path / "manifest.csv").write_text(
        "file,label,source,patient_id\na.png,Pneumonia,nih,nih:1\n"
        "b.png,normal,nih,nih:2\nc.png,pleural effusion,nih,nih:3\n"
    )
    records = read_manifest(tmp_path / "manifest.csv")
    assert [r.label for r in records] == ["pneumonia", "normal"]  # unknown labels are still skipped
    cache = ImageCache(records, np.zeros((2, 4, 4), np.uint8), [])
    assert cache.labels().tolist() == [TARGETS.index("pneumonia"), 0]


# ---------------------------------------------------------------------------------- leave one source out


def test_holdout_removes_the_source_and_every_film_of_its_patients() -> None:
    records = [
        Record("a", "covid19", "cxnet", "p1"),
        Record("b", "covid19", "ieee8023", "p1"),
        Record("c", "normal", "nih", "p2"),
        Record("d", "covid19", "cxnet", "p3"),
    ]
    cache = ImageCache(records, np.arange(4, dtype=np.uint8).reshape(4, 1, 1), [])
    kept, held = split_off_holdout(cache, "cxnet")
    assert held is not None
    assert [r.path for r in held.records] == ["a", "d"]
    assert [r.path for r in kept.records] == ["c"]  # b shares patient p1 with a held-out film
    assert split_off_holdout(cache, "")[1] is None
    with pytest.raises(SystemExit, match="not among the sources"):
        split_off_holdout(cache, "nope")


# --------------------------------------------------------------------------------------- burned-in marks


def test_markers_are_mostly_near_the_edges_and_vary() -> None:
    rng = np.random.default_rng(0)
    layers = np.stack([draw_markers(rng, 128, 128) for _ in range(200)])
    assert layers.min() >= 0 and layers.max() <= 1
    covered = layers > 0.5
    assert covered.any(axis=(1, 2)).mean() > 0.95  # nearly every layer draws something visible
    border = np.ones((128, 128), bool)
    border[32:96, 32:96] = False  # the outer quarter on each side is 75% of the area
    assert covered[:, border].sum() / covered.sum() > 0.8
    assert len({layer.tobytes() for layer in layers}) == 200


def test_rand_burned_text_pastes_bright_marks_only_where_drawn() -> None:
    image = np.full((96, 96), 0.3, np.float32)
    rng = np.random.default_rng(3)
    out = RandBurnedText(p=1.0)(image, rng)
    changed = np.abs(out - image) > 1e-6
    assert changed.any() and changed.mean() < 0.2
    assert RandBurnedText(p=0.0)(image, rng) is image


# ------------------------------------------------------------------------------- batched augmentation


def test_batch_augment_is_reproducible_in_range_and_changes_films() -> None:
    x = torch.from_numpy(
        np.stack([make_film(np.random.default_rng(i), i % 4) for i in range(8)])[:, None].astype(np.float32)
        / 255
    )
    aug = BatchAugment(markers=torch.from_numpy(marker_bank(16, 64, 64)), text_p=0.5)
    out1 = aug(x.clone(), torch.Generator().manual_seed(5))
    out2 = aug(x.clone(), torch.Generator().manual_seed(5))
    out3 = aug(x.clone(), torch.Generator().manual_seed(6))
    assert torch.equal(out1, out2) and not torch.equal(out1, out3)
    assert out1.shape == x.shape and float(out1.min()) >= 0 and float(out1.max()) <= 1
    assert float((out1 - x).abs().mean()) > 0.01


def test_batch_augment_flip_only_mirrors() -> None:
    x = torch.rand(4, 1, 32, 32)
    aug = BatchAugment(
        flip_p=1.0,
        degrees=0,
        translate=0,
        scale=(1.0, 1.0),
        shear_degrees=0,
        brightness=0,
        contrast=0,
        gamma_p=0,
        downup_p=0,
        blur_p=0,
        noise_p=0,
    )
    out = aug(x.clone(), torch.Generator().manual_seed(0))
    assert torch.allclose(out, x.flip(-1), atol=1e-5)


def test_device_batches_match_film_by_film_preprocessing_and_shard_by_rank() -> None:
    images = np.stack([make_film(np.random.default_rng(i), i % 4) for i in range(10)])
    targets = np.arange(10) % 4
    config = PreprocessConfig(input_size=(64, 64))
    plain = DeviceFilmBatches(images, targets, config, "cpu", batch_size=4)
    x, y = next(iter(plain))
    ref = torch.stack([to_input_tensor(images[i].astype(np.float32) / 255, config) for i in range(4)])
    assert torch.allclose(x, ref, atol=1e-6) and y.tolist() == targets[:4].tolist()
    assert torch.allclose(
        normalise(torch.zeros(1, 1, 2, 2), config)[0, :, 0, 0],
        -torch.tensor(config.mean) / torch.tensor(config.std),
    )

    def plan(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return balanced_indices(labels, rng, True)

    ranks = [
        DeviceFilmBatches(images, targets, config, "cpu", 4, seed=1, plan=plan, rank=r, world_size=2)
        for r in (0, 1)
    ]
    orders = [r._order() for r in ranks]
    assert len(orders[0]) == len(orders[1])
    whole = plan(targets, np.random.default_rng((1, 0)))
    assert sorted(np.concatenate(orders).tolist()) == sorted(np.resize(whole, 2 * len(orders[0])).tolist())
    ranks[0].set_epoch(1)
    assert not np.array_equal(ranks[0]._order(), orders[0])


# ------------------------------------------------------------------------------------------------- pack


def test_pack_keeps_the_prepared_films_and_the_manifest(synthetic_manifest: Path, tmp_path: Path) -> None:
    config = PreprocessConfig(input_size=(64, 64))
    n = pack_manifest(synthetic_manifest, tmp_path / "pack", config, quality=90, workers=1)
    rows = list(csv.DictReader((tmp_path / "pack" / "manifest.csv").open()))
    assert n == len(rows) == 40
    assert all(r["file"].endswith(".prepared.webp") for r in rows)
    original = list(csv.DictReader(synthetic_manifest.open()))
    prepared, ok, _ = prepare_films([str(synthetic_manifest.parent / r["file"]) for r in original], config)
    assert ok.all()
    packed = np.stack([read_prepared(str(tmp_path / "pack" / r["file"]), config) for r in rows])
    assert np.abs(packed.astype(int) - prepared.astype(int)).mean() < 3  # lossy WebP, not re-windowed


# ------------------------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def manifest_with_pneumonia(synthetic_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("films_pneu")
    shutil.copytree(synthetic_manifest.parent, root, dirs_exist_ok=True)
    rows = list(csv.DictReader((root / "manifest.csv").open()))
    rng = np.random.default_rng(9)
    for i in range(10):
        rel = Path("gamma") / "pneumonia" / f"p-{i:03d}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(make_film(rng, 1 + i % 2)).save(root / rel)
        rows.append(
            {"file": rel.as_posix(), "label": "pneumonia", "source": "gamma", "patient_id": f"gamma:{i}"}
        )
    with (root / "manifest.csv").open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root / "manifest.csv"


def test_finetune_on_the_device_pipeline_with_holdout_text_and_pneumonia(
    manifest_with_pneumonia: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    args = get_args_parser().parse_args(
        [
            "--data",
            str(manifest_with_pneumonia),
            "--output-dir",
            str(out),
            *TINY,
            "--mode",
            "finetune",
            "--epochs",
            "1",
            "--burned-text",
            "0.5",
            "--pipeline",
            "device",
            "--holdout-source",
            "beta",
            "--device",
            "cpu",
        ]
    )
    metrics = train_main(args)
    assert metrics["mode"] == "finetune" and metrics["epochs"] == 1
    held = metrics["holdout"]
    assert held["sources"] == ["beta"] and held["n"] == 20  # every beta film, none trained on
    assert 0 <= held["gate_acceptance"] <= 1 and "covid19_sensitivity" in held
    splits = list(csv.DictReader((out / "splits.csv").open()))
    assert not any(r["source"] == "beta" for r in splits)
    test_pneumonia = metrics["test"]["set_valued"]["pneumonia"]
    assert test_pneumonia["n"] == sum(r["split"] == "test" and r["label"] == "pneumonia" for r in splits)
    # 4-class metrics count single-label films only
    assert metrics["test"]["n"] == sum(r["split"] == "test" and r["label"] != "pneumonia" for r in splits)
    assert (out / "best.pt").is_file()
    state = torch.load(out / "best.pt", weights_only=True)
    # --init-from with --epochs 0 reproduces the evaluation of that network
    again = train_main(
        get_args_parser().parse_args(
            [
                "--data",
                str(manifest_with_pneumonia),
                "--output-dir",
                str(tmp_path / "again"),
                *TINY,
                "--mode",
                "finetune",
                "--epochs",
                "0",
                "--init-from",
                str(out / "best.pt"),
                "--holdout-source",
                "beta",
                "--device",
                "cpu",
            ]
        )
    )
    assert again["test"]["accuracy"] == metrics["test"]["accuracy"]
    assert again["holdout"]["hit_rate"] == held["hit_rate"]
    assert "features.0.0.weight" in state


def test_verify_bundle_compares_on_a_cpu_copy_whatever_the_network_is_on(
    synthetic_manifest: Path, tmp_path: Path
) -> None:
    """The first CUDA export crashed in verify_bundle (CPU inputs fed to a CUDA network). A network in
    another dtype fails the same way on a CPU-only machine; the check must compare on a CPU float copy."""
    from training.export import verify_bundle

    out = tmp_path / "run"
    bundle = tmp_path / "bundle"
    train_main(
        get_args_parser().parse_args(
            [
                "--data",
                str(synthetic_manifest),
                "--output-dir",
                str(out),
                *TINY,
                "--epochs",
                "1",
                "--feature-passes",
                "1",
                "--export",
                str(bundle),
            ]
        )
    )
    from radiview.inference import Classifier

    clf = Classifier.from_bundle(bundle, device="cpu")
    net = clf.network.double()  # weights in float64, inputs float32: the device mismatch's CPU twin
    images = np.stack([make_film(np.random.default_rng(i), i % 4) for i in range(4)])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs"] == 1
    gate = _gate_from_bundle(bundle)
    check = verify_bundle(
        bundle, net, gate, clf.card.temperature, images, PreprocessConfig(input_size=(64, 64))
    )
    assert check["top_label_agreement"] == 1.0
    assert next(net.parameters()).dtype == torch.float64  # the caller's network is left as it was


def _gate_from_bundle(bundle: Path):  # type: ignore[no-untyped-def]
    from radiview.inference.bundle import load_bundle
    from training.calibrate import GateFit

    _, state = load_bundle(bundle)
    t = {k.removeprefix("gate."): v.double().numpy() for k, v in state.items() if k.startswith("gate.")}
    return GateFit(
        class_means=t["class_means"],
        precision=t["precision"],
        spatial_projection=t.get("spatial_projection"),
        spatial_class_means=t.get("spatial_class_means"),
        spatial_precision=t.get("spatial_precision"),
        spatial_grid=(2, 2) if "spatial_projection" in t else None,
    )
