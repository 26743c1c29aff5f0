"""End to end on generated films: train → evaluate → export → reload in the app; resume; DDP."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from radiview.inference import Classifier
from radiview.inference.bundle import load_bundle, read_model_card
from radiview.inference.network import build_network
from training.__main__ import main as cli_main
from training.args import get_args_parser
from training.data.sources import LABELS
from training.train import main as train_main

from .conftest import TINY

REPO = Path(__file__).resolve().parents[2]


def tiny_args(manifest: Path, out: Path, *extra: str):  # type: ignore[no-untyped-def]
    return get_args_parser().parse_args(["--data", str(manifest), "--output-dir", str(out), *TINY, *extra])


def test_end_to_end_frozen_export_and_reload(synthetic_manifest: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    code = cli_main(
        [
            "--data",
            str(synthetic_manifest),
            "--output-dir",
            str(tmp_path / "run"),
            *TINY,
            "--epochs",
            "2",
            "--feature-passes",
            "1",
            "--export",
            str(bundle),
            "--ood",
            str(synthetic_manifest),
        ]
    )
    assert code == 0
    run = tmp_path / "run"
    for name in (
        "args.json",
        "config.json",
        "train.log",
        "metrics.json",
        "splits.csv",
        "checkpoint.pt",
        "curves.png",
        "confusion_test.png",
        "roc_test.png",
        "test_predictions.csv",
    ):
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and len(metrics["history"]) == 2
    assert (
        metrics["data"]["totals"]["train"]
        + metrics["data"]["totals"]["val"]
        + metrics["data"]["totals"]["test"]
        == 40
    )
    assert 0 <= metrics["test"]["accuracy"] <= 1
    assert set(metrics["test"]["by_age_group"]) == {"adult"}

    card = read_model_card(bundle)
    assert card.name == "radiview-mobilenetv3-small"
    assert card.architecture["hidden"] == 32
    assert card.preprocessing["input_size"] == [64, 64]
    assert card.temperature > 0 and card.gate["method"] == "mahalanobis"
    assert card.recipe["seed"] == 0 and "--export" in card.recipe["command"]
    assert card.training_data["totals"]["train"] > 0
    _, state = load_bundle(bundle)
    assert state["gate.class_means"].shape == (4, 576) and state["gate.precision"].shape == (576, 576)

    clf = Classifier.from_bundle(bundle, device="cpu")
    from radiview.io import load_radiograph

    film = load_radiograph(str(synthetic_manifest.parent / "alpha" / "covid19" / "covid19-000.png"))
    pred = clf.predict(film)
    assert pred.labels == card.labels and sum(pred.probabilities) == pytest.approx(1.0, abs=1e-5)


def test_resume_continues_to_the_same_final_state(synthetic_manifest: Path, tmp_path: Path) -> None:
    full = tmp_path / "full"
    train_main(tiny_args(synthetic_manifest, full, "--epochs", "3", "--feature-passes", "1"))
    part = tmp_path / "part"
    stopped = train_main(
        tiny_args(
            synthetic_manifest, part, "--epochs", "3", "--feature-passes", "1", "--stop-after-epochs", "1"
        )
    )
    assert stopped["stopped_at_epoch"] == 1
    assert torch.load(part / "checkpoint.pt", weights_only=False)["epoch"] == 0
    train_main(tiny_args(synthetic_manifest, part, "--epochs", "3", "--feature-passes", "1", "--resume"))
    a = torch.load(full / "checkpoint.pt", weights_only=False)
    b = torch.load(part / "checkpoint.pt", weights_only=False)
    assert a["epoch"] == b["epoch"] == 2
    assert [h["epoch"] for h in b["history"]] == [0, 1, 2]
    for key, value in a["model"].items():
        assert torch.equal(value, b["model"][key]), key
    assert a["history"] == b["history"]
    assert json.loads((part / "metrics.json").read_text())["epochs"] == 3


@pytest.mark.slow
def test_finetune_ddp_two_processes_gloo(synthetic_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "training",
        "--data",
        str(synthetic_manifest),
        "--output-dir",
        str(out),
        *TINY,
        "--mode",
        "finetune",
        "--epochs",
        "1",
        "--augment",
        "full",
        "--device",
        "cpu",
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["mode"] == "finetune" and metrics["epochs"] == 1
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    # the backbone trained: it moved away from the seeded random init both ranks started from
    torch.manual_seed(0)
    init = build_network({"hidden": 32}).state_dict()
    assert not torch.allclose(ckpt["model"]["features.0.0.weight"], init["features.0.0.weight"])
    assert torch.allclose(ckpt["model"]["features.0.0.weight"], ckpt["best_state"]["features.0.0.weight"])
    assert np.isfinite(metrics["test"]["accuracy"])


def test_partial_finetune_trains_the_last_blocks_on_cached_activations(
    synthetic_manifest: Path, tmp_path: Path
) -> None:
    out = tmp_path / "partial"
    metrics = train_main(
        tiny_args(synthetic_manifest, out, "--epochs", "1", "--feature-passes", "1", "--trainable-from", "11")
    )
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    torch.manual_seed(0)
    init = build_network({"hidden": 32}).state_dict()
    frozen, trained = "features.10.block.0.0.weight", "features.11.block.0.0.weight"
    assert torch.equal(ckpt["model"][frozen], init[frozen])
    assert not torch.equal(ckpt["model"][trained], init[trained])
    # BatchNorm statistics of the trained blocks stay fixed (eval mode)
    bn = "features.11.block.0.1.running_mean"
    assert torch.equal(ckpt["model"][bn], init[bn])
    assert metrics["gate"]["test_acceptance"] >= 0


def test_expand_writes_balanced_augmented_copy_that_trains(synthetic_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "exp"
    train_main(tiny_args(synthetic_manifest, out, "--expand", "12", "--augment", "paper"))
    rows = list(csv.DictReader((out / "expanded" / "manifest.csv").open()))
    train = [r for r in rows if r["split"] == "train"]
    assert {label: sum(r["label"] == label for r in train) for label in LABELS} == dict.fromkeys(LABELS, 12)
    assert all(r["augmented"] == "0" for r in rows if r["split"] != "train")  # val/test untouched
    # training on the expanded manifest honours its split column (no re-split, no de-duplication)
    metrics = train_main(
        tiny_args(
            out / "expanded" / "manifest.csv",
            tmp_path / "run",
            "--epochs",
            "1",
            "--feature-passes",
            "1",
            "--augment",
            "none",
        )
    )
    assert metrics["data"]["totals"]["train"] == 48
    assert metrics["data"]["split"]["method"] == "from the manifest's split column"


def test_refit_gate_keeps_the_network_and_adds_the_layout_check(
    synthetic_manifest: Path, tmp_path: Path
) -> None:
    old = tmp_path / "old"
    assert (
        cli_main(
            [
                "--data",
                str(synthetic_manifest),
                "--output-dir",
                str(tmp_path / "run"),
                *TINY,
                "--epochs",
                "1",
                "--feature-passes",
                "1",
                "--no-gate-layout",
                "--export",
                str(old),
            ]
        )
        == 0
    )
    old_card, old_state = load_bundle(old)
    assert "spatial" not in old_card.gate and "gate.spatial_precision" not in old_state  # the ≤ 1.1.0 format

    new = tmp_path / "new"
    assert (
        cli_main(
            [
                "--refit-gate-from",
                str(old),
                "--data",
                str(synthetic_manifest),
                "--output-dir",
                str(tmp_path / "refit"),
                *TINY,
                "--model-version",
                "9.9.9",
                "--export",
                str(new),
                "--ood",
                str(synthetic_manifest),
            ]
        )
        == 0
    )
    card, state = load_bundle(new)
    assert card.version == "9.9.9" and card.gate["spatial"]["grid"] == [2, 2]
    assert card.gate["spatial"]["channels"] == 128
    assert state["gate.spatial_projection"].shape == (576, 128)
    assert state["gate.spatial_class_means"].shape == (4, 512)
    assert state["gate.spatial_precision"].shape == (512, 512)
    # The network is copied bit for bit; its metrics, data summary and recipe are carried over.
    for key, value in old_state.items():
        if not key.startswith("gate."):
            assert torch.equal(state[key], value), key
    assert card.metrics["accuracy"] == old_card.metrics["accuracy"]
    assert card.training_data == old_card.training_data
    assert "--refit-gate-from" in card.recipe["gate_refit"]["command"]
    assert card.recipe["gate_refit"]["from_version"] == old_card.version
    gate = card.metrics["gate"]
    assert set(gate["checks"]) == {"global", "spatial"}
    assert gate["val_acceptance"] >= 0.99  # the joint rule on val (std check included)
    assert gate["checks"]["global"]["val_acceptance"] == gate["checks"]["spatial"]["val_acceptance"]
    assert "global_check_alone_at_val_0.99" in gate["ood"]
    assert card.gate["ood_refusal_by_kind"] == {"other": gate["ood"]["by_kind"]["other"]["refusal_rate"]}

    clf = Classifier.from_bundle(new, device="cpu")
    from radiview.io import load_radiograph

    film = load_radiograph(str(synthetic_manifest.parent / "alpha" / "normal" / "normal-000.png"))
    assert clf.spatial_gate is not None and clf.predict(film).model == f"{card.name}@9.9.9"

    # Other films than the bundle was trained on: refused, nothing written.
    with pytest.raises(SystemExit, match="differ from the bundle's training data"):
        cli_main(
            [
                "--refit-gate-from",
                str(old),
                "--data",
                str(synthetic_manifest),
                "--sources",
                "alpha",
                "--output-dir",
                str(tmp_path / "bad"),
                *TINY,
                "--export",
                str(tmp_path / "never"),
            ]
        )
    assert not (tmp_path / "never").exists()
