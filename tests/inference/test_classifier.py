"""Classifier behaviour on the tiny random bundle: calibration, batching, one-pass analyze, gate, leaks."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from radiview.errors import InferenceError
from radiview.inference import Classifier, Prediction
from radiview.inference.gate import REASON_COLOR, REASON_UNIFORM
from radiview.inference.network import RadiviewNet
from radiview.io.radiograph import Radiograph


def softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return shifted / shifted.sum()


def test_probabilities_are_softmax_of_logits_over_temperature(
    classifier: Classifier, make_radiograph: Callable[..., Radiograph]
) -> None:
    radiograph = make_radiograph(seed=3)
    with torch.no_grad():
        logits = classifier.network(classifier.preprocess(radiograph).unsqueeze(0))[0].double().numpy()
    expected = softmax(logits / classifier.card.temperature)
    prediction = classifier.predict(radiograph)
    assert classifier.card.temperature == 1.5
    np.testing.assert_allclose(prediction.probabilities, expected, rtol=0, atol=1e-6)
    assert sum(prediction.probabilities) == pytest.approx(1.0, abs=1e-9)
    assert prediction.labels == classifier.labels
    assert prediction.model == "tiny-random@0.0.1"


def test_temperature_above_one_flattens(
    tiny_net: RadiviewNet, write_test_bundle: Callable[..., Path], tmp_path: Path
) -> None:
    sharp = Classifier.from_bundle(write_test_bundle(tmp_path / "t1", tiny_net, temperature=1.0), "cpu")
    flat = Classifier.from_bundle(write_test_bundle(tmp_path / "t3", tiny_net, temperature=3.0), "cpu")
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0]])
    p1 = sharp.probabilities_from_logits(logits)[0]
    p3 = flat.probabilities_from_logits(logits)[0]
    np.testing.assert_allclose(p1, softmax(logits[0].double().numpy()), atol=1e-12)
    np.testing.assert_allclose(p3, softmax(logits[0].double().numpy() / 3.0), atol=1e-12)
    entropy = lambda p: float(-(p * np.log(p)).sum())  # noqa: E731
    assert p3.max() < p1.max() and p3.min() > p1.min()
    assert entropy(p3) > entropy(p1)
    assert np.argmax(p3) == np.argmax(p1) == 0  # calibration never changes the ranking


def test_predict_batch_equals_predict_one_by_one(
    classifier: Classifier, make_radiograph: Callable[..., Radiograph]
) -> None:
    films = [
        make_radiograph(shape=(200, 300), seed=1),
        make_radiograph(shape=(512, 512), seed=2),
        make_radiograph(shape=(90, 70), seed=3),
    ]
    batched = classifier.predict_batch(films)
    singles = [classifier.predict(f) for f in films]
    assert len(batched) == 3
    for b, s in zip(batched, singles, strict=True):
        np.testing.assert_allclose(b.probabilities, s.probabilities, atol=1e-5)
        assert b.gate.accepted == s.gate.accepted
        assert b.gate.score == pytest.approx(s.gate.score, rel=1e-3, abs=1e-6)
    # Different films, different answers: the batch is not one film repeated.
    assert not np.allclose(batched[0].probabilities, batched[1].probabilities, atol=1e-6)
    # Preprocessing elsewhere (e.g. worker threads) and predict_tensors give the same result.
    via_tensors = classifier.predict_tensors(classifier.prepare_batch(films), films)
    for b, t in zip(batched, via_tensors, strict=True):
        np.testing.assert_allclose(b.probabilities, t.probabilities, atol=1e-6)
    assert classifier.predict_batch([]) == []


def test_predict_tensors_checks_lengths(classifier: Classifier, make_radiograph) -> None:
    batch = classifier.prepare_batch([make_radiograph()])
    with pytest.raises(ValueError, match="does not match 2 radiographs"):
        classifier.predict_tensors(batch, [None, None])


def count_calls(module: torch.nn.Module) -> tuple[list[int], torch.utils.hooks.RemovableHandle]:
    calls = [0]

    def hook(*_: object) -> None:
        calls[0] += 1

    return calls, module.register_forward_hook(hook)


def test_analyze_is_predict_plus_explain_in_one_forward_pass(
    classifier: Classifier, make_radiograph: Callable[..., Radiograph]
) -> None:
    radiograph = make_radiograph(shape=(200, 300), seed=5)
    backbone_calls, h1 = count_calls(classifier.network.features)
    head_calls, h2 = count_calls(classifier.network.head)
    try:
        prediction, explanation = classifier.analyze(radiograph)
        assert backbone_calls == [1] and head_calls == [1]
    finally:
        h1.remove()
        h2.remove()
    expected = classifier.predict(radiograph)
    np.testing.assert_allclose(prediction.probabilities, expected.probabilities, atol=1e-6)
    assert prediction.gate.accepted == expected.gate.accepted
    assert prediction.gate.score == pytest.approx(expected.gate.score, rel=1e-4)
    assert explanation is not None
    assert explanation.label == expected.top_label
    assert explanation.heatmap.shape == (200, 300)
    assert explanation.heatmap.dtype == np.float32
    assert explanation.heatmap.min() >= 0.0 and explanation.heatmap.max() <= 1.0
    assert explanation.heatmap.max() > 0.5  # grad-cam normalises the map to its maximum
    assert not explanation.heatmap.flags.writeable
    np.testing.assert_allclose(classifier.explain(radiograph).heatmap, explanation.heatmap, atol=1e-5)


def test_explain_a_chosen_label(classifier: Classifier, make_radiograph) -> None:
    radiograph = make_radiograph(seed=6)
    explanation = classifier.explain(radiograph, label="covid19")
    assert explanation.label == "covid19"
    assert explanation.method == "Grad-CAM"
    _, analyzed = classifier.analyze(radiograph, label="viral_pneumonia")
    assert analyzed is not None and analyzed.label == "viral_pneumonia"
    with pytest.raises(ValueError, match="unknown label 'pneumothorax'"):
        classifier.explain(radiograph, label="pneumothorax")


def hook_count(net: torch.nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in net.modules()
    )


def rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


@pytest.mark.slow
def test_no_hook_or_memory_growth_over_100_calls(
    classifier: Classifier, make_radiograph: Callable[..., Radiograph]
) -> None:
    from pytorch_grad_cam import GradCAM

    radiograph = make_radiograph(shape=(64, 64), seed=7)
    hooks_before = hook_count(classifier.network)
    for _ in range(10):  # warm-up: allocator pools, lazy imports
        classifier.analyze(radiograph)
    gc.collect()
    rss_before, objects_before = rss_bytes(), len(gc.get_objects())
    for _ in range(100):
        classifier.analyze(radiograph)
    gc.collect()
    object_growth = len(gc.get_objects()) - objects_before
    rss_growth = rss_bytes() - rss_before

    assert hook_count(classifier.network) == hooks_before == 0
    assert not [o for o in gc.get_objects() if type(o) is GradCAM]
    assert all(p.grad is None for p in classifier.network.parameters())
    assert object_growth < 100, object_growth  # a leak of one object per call would show 100+
    assert rss_growth < 40 * 1024 * 1024, rss_growth


def test_uniform_film_is_refused_with_no_top_label_and_no_map(
    classifier: Classifier, make_radiograph: Callable[..., Radiograph]
) -> None:
    blank = make_radiograph(pixels=np.full((120, 100), 800.0, dtype=np.float32))
    prediction = classifier.predict(blank)
    assert not prediction.accepted
    assert prediction.gate.reason == REASON_UNIFORM
    assert prediction.top_label is None
    analyzed, explanation = classifier.analyze(blank)
    assert not analyzed.accepted and explanation is None


def test_colour_photograph_is_refused(classifier: Classifier, make_radiograph) -> None:
    photo = make_radiograph(seed=8, was_color=True, colorfulness=0.35)
    prediction = classifier.predict(photo)
    assert not prediction.accepted and prediction.gate.reason == REASON_COLOR
    assert prediction.top_label is None
    # A gray film that happened to be stored as RGB passes.
    gray_rgb = make_radiograph(seed=8, was_color=True, colorfulness=0.001)
    assert classifier.predict(gray_rgb).accepted
    # The batch path applies the same gate, per film.
    batch = classifier.predict_batch([gray_rgb, photo])
    assert [p.accepted for p in batch] == [True, False]


def test_colour_png_through_io_is_refused(classifier: Classifier, tmp_path: Path) -> None:
    from PIL import Image

    from radiview.io import load_radiograph

    rng = np.random.default_rng(0)
    rgb = np.zeros((160, 200, 3), dtype=np.uint8)
    rgb[..., 0] = rng.integers(150, 256, (160, 200))  # red-dominant noise: a vivid photo
    rgb[..., 1] = rng.integers(0, 120, (160, 200))
    rgb[..., 2] = rng.integers(0, 256, (160, 200))
    path = tmp_path / "holiday.png"
    Image.fromarray(rgb, "RGB").save(path)
    radiograph = load_radiograph(path)
    assert radiograph.was_color
    prediction = classifier.predict(radiograph)
    assert not prediction.accepted and prediction.gate.reason == REASON_COLOR


def test_far_features_are_refused_with_the_distance_in_the_reason(
    tiny_net: RadiviewNet, write_test_bundle: Callable[..., Path], tmp_path: Path, make_radiograph
) -> None:
    bundle = write_test_bundle(
        tmp_path / "strict",
        tiny_net,
        class_means=torch.full((4, 576), 3.0),
        gate={"method": "mahalanobis", "threshold": 30.0, "min_std": 0.02, "max_colorfulness": 0.08},
    )
    clf = Classifier.from_bundle(bundle, device="cpu")
    prediction = clf.predict(make_radiograph(seed=9))
    assert not prediction.accepted
    assert prediction.top_label is None
    assert prediction.gate.score > 30.0
    assert prediction.gate.reason == (
        f"unlike the films the model was trained on (distance {prediction.gate.score:.1f} > 30.0): "
        "ICU/portable, unusual exposure, or not a frontal chest film?"
    )


def test_device_error_on_the_cpu_is_an_inference_error(classifier: Classifier, make_radiograph) -> None:
    def fail(*_: object) -> None:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    handle = classifier.network.features.register_forward_pre_hook(fail)
    try:
        with pytest.raises(InferenceError, match="prediction failed: CUDA out of memory"):
            classifier.predict(make_radiograph())
    finally:
        handle.remove()
    assert isinstance(classifier.predict(make_radiograph()), Prediction)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_out_of_memory_falls_back_to_the_cpu(
    tiny_bundle: Path, make_radiograph, caplog: pytest.LogCaptureFixture
) -> None:
    clf = Classifier.from_bundle(tiny_bundle, device="cuda")
    assert clf.device.type == "cuda"
    radiograph = make_radiograph(seed=10)
    on_gpu = clf.predict(radiograph)

    def fail_once(_module: torch.nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if args[0].is_cuda:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    handle = clf.network.features.register_forward_pre_hook(fail_once)
    try:
        with caplog.at_level(logging.WARNING, logger="radiview"):
            fallback = clf.predict(radiograph)
            _, explanation = clf.analyze(radiograph)
    finally:
        handle.remove()
    assert clf.device.type == "cpu"
    assert next(clf.network.parameters()).device.type == "cpu"
    assert "moving the model to the CPU" in caplog.text
    # TF32 matmuls and cuDNN's convolution algorithms make GPU and CPU differ by ~1e-3 on a real GPU
    # (7e-4 measured on an H200); the fallback must give the same reading, not the same rounding
    np.testing.assert_allclose(fallback.probabilities, on_gpu.probabilities, atol=5e-3)
    assert int(np.argmax(fallback.probabilities)) == int(np.argmax(on_gpu.probabilities))
    assert explanation is not None and explanation.heatmap.shape == radiograph.shape


def test_layout_check_runs_in_predict_and_analyze(
    tiny_net: RadiviewNet,
    write_test_bundle: Callable[..., Path],
    spatial_gate_tensors: Callable[..., dict[str, torch.Tensor]],
    tmp_path: Path,
    make_radiograph,
) -> None:
    from radiview.inference.gate import spatial_cells

    def _spatial_bundle(out: Path, spatial_threshold: float) -> Path:
        spatial = {"method": "mahalanobis", "grid": [2, 2], "channels": 8, "threshold": spatial_threshold}
        gate = {"method": "mahalanobis", "threshold": 1.0e9, "min_std": 0.02, "spatial": spatial}
        return write_test_bundle(out, tiny_net, gate=gate, spatial=spatial_gate_tensors())

    radiograph = make_radiograph(seed=12)
    lenient = Classifier.from_bundle(_spatial_bundle(tmp_path / "a", 1.0e9), device="cpu")
    assert lenient.predict(radiograph).accepted
    # The spatial distance with these tensors: the norm of channels 0-7 of the 2×2 cell averages.
    with torch.no_grad():
        fmap = tiny_net.features(lenient.preprocess(radiograph).unsqueeze(0))
    distance = float(spatial_cells(fmap, (2, 2))[0, :8].double().norm())
    assert distance > 0

    strict = Classifier.from_bundle(_spatial_bundle(tmp_path / "b", distance * 0.999), device="cpu")
    expected = (
        f"layout unlike the films the model was trained on (spatial distance {distance:.1f} > "
        f"{distance * 0.999:.1f}): ICU/portable, unusual positioning, or not a frontal chest film?"
    )
    predicted = strict.predict(radiograph)
    assert not predicted.accepted and predicted.gate.reason == expected
    analyzed, explanation = strict.analyze(radiograph)  # the Grad-CAM pass feeds the layout check too
    assert not analyzed.accepted and analyzed.gate.reason == expected and explanation is None
    assert analyzed.gate.score == pytest.approx(predicted.gate.score, rel=1e-4)

    looser = Classifier.from_bundle(_spatial_bundle(tmp_path / "c", distance * 1.001), device="cpu")
    assert looser.predict(radiograph).accepted and looser.analyze(radiograph)[1] is not None
    batch = looser.predict_batch([radiograph, make_radiograph(seed=13)])
    assert batch[0].accepted  # per-film cells in a batch


def test_old_card_without_layout_check_still_loads(classifier: Classifier, make_radiograph) -> None:
    assert "spatial" not in classifier.card.gate
    assert classifier._spatial_gate is None
    assert classifier.predict(make_radiograph(seed=14)).accepted


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t, g: t.pop("spatial_precision"), "lacks the spatial gate tensor gate.spatial_precision"),
        (lambda t, g: t.update(spatial_class_means=torch.zeros(4, 31)), "spatial_class_means has shape"),
        (lambda t, g: g["spatial"].update(channels=16), "spatial_projection has shape"),
        (lambda t, g: g["spatial"].pop("threshold"), "spatial gate is invalid"),
        (lambda t, g: g["spatial"].update(grid=[2]), "spatial gate is invalid"),
    ],
)
def test_inconsistent_layout_check_is_a_bundle_error(
    tiny_net: RadiviewNet,
    write_test_bundle: Callable[..., Path],
    spatial_gate_tensors: Callable[..., dict[str, torch.Tensor]],
    tmp_path: Path,
    edit,
    message: str,
) -> None:
    from radiview.errors import ModelBundleError

    tensors = spatial_gate_tensors()
    gate = {
        "method": "mahalanobis",
        "threshold": 1.0e9,
        "min_std": 0.02,
        "spatial": {"grid": [2, 2], "channels": 8, "threshold": 1.0},
    }
    edit(tensors, gate)
    # A bad card entry is refused as the bundle is written (the card is checked in one place);
    # card and tensors that disagree, as it is loaded.
    with pytest.raises(ModelBundleError, match=message):
        bundle = write_test_bundle(tmp_path / "bad", tiny_net, gate=gate, spatial=tensors)
        Classifier.from_bundle(bundle, device="cpu")
