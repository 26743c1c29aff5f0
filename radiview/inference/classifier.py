"""The AI second reader: a model bundle turned into calibrated, gated predictions and Grad-CAM maps.

``Classifier`` is NOT thread-safe: Grad-CAM attaches hooks to the network for the length of
a call and parameter gradients are reused, so two threads calling it at once would mix
their maps. Own one instance from one thread (the GUI's inference worker); for batch
throughput, preprocess in parallel (``preprocess`` is pure) and call ``predict_tensors``
from the one thread that owns the classifier.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from radiview.assets import default_model_dir
from radiview.errors import InferenceError, ModelBundleError
from radiview.inference.bundle import GATE_PREFIX, ModelCard, load_bundle
from radiview.inference.device import configure_cpu_threads, resolve_device
from radiview.inference.explain import apply_gradient_scope, find_layer, resize_heatmap, run_gradcam
from radiview.inference.fitting_gate import GateFit
from radiview.inference.gate import GateFacts, SpatialGate, gate_verdict, mahalanobis_scores
from radiview.inference.lungs import LungSegmenter
from radiview.inference.network import SMALL_FEATURE_DIM, RadiviewNet, build_network
from radiview.inference.precision import Parity, autocast_to, compare, default_reduced_dtype
from radiview.inference.prediction import Explanation, GateVerdict, Prediction
from radiview.inference.preprocess import Preprocessing, preprocess
from radiview.inference.site_bundle import is_site_bundle, load_site_classifier
from radiview.io.radiograph import Radiograph

log = logging.getLogger("radiview.inference")

T = TypeVar("T")


def _is_accelerator_error(exc: BaseException) -> bool:
    """Out of GPU memory or another CUDA/MPS runtime failure (worth a retry on the CPU)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(
        key in text for key in ("CUDA", "cuDNN", "CUBLAS", "MPS", "out of memory")
    )


def build_bundle_network(
    card: ModelCard, state: dict[str, torch.Tensor], source: str | os.PathLike[str] | None = None
) -> tuple[RadiviewNet, torch.Tensor, torch.Tensor]:
    """Build the card's network, load its weights strictly, and split off the gate tensors.

    The card itself was checked when it was read (``ModelCard.from_dict``); every mismatch
    between card and weights (keys, shapes, gate tensors, target layer) is a ModelBundleError
    naming ``source``, never a torch traceback.
    """
    try:
        net = build_network(card.architecture)
    except (ValueError, TypeError) as exc:
        raise ModelBundleError(f"model card architecture is not supported: {exc}", source) from exc
    net_state = {k: v for k, v in state.items() if not k.startswith(GATE_PREFIX)}
    try:
        net.load_state_dict(net_state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(line.strip() for line in first[:3])
        raise ModelBundleError(
            f"weights do not fit the card's architecture {card.architecture}: {detail}", source
        ) from exc
    means = state.get(GATE_PREFIX + "class_means")
    precision = state.get(GATE_PREFIX + "precision")
    if means is None or precision is None:
        raise ModelBundleError("weights file lacks the gate tensors gate.class_means/gate.precision", source)
    if (
        means.ndim != 2
        or means.shape[1] != SMALL_FEATURE_DIM
        or precision.shape
        != (
            SMALL_FEATURE_DIM,
            SMALL_FEATURE_DIM,
        )
    ):
        raise ModelBundleError(
            f"gate tensors have shapes {tuple(means.shape)} and {tuple(precision.shape)}; expected "
            f"(K, {SMALL_FEATURE_DIM}) and ({SMALL_FEATURE_DIM}, {SMALL_FEATURE_DIM})",
            source,
        )
    try:
        find_layer(net, card.gradcam_target_layer)
    except (AttributeError, KeyError) as exc:
        raise ModelBundleError(
            f"Grad-CAM target layer {card.gradcam_target_layer!r} is not in the network", source
        ) from exc
    return net.eval(), means.float(), precision.float()


def build_spatial_gate(
    card: ModelCard, state: dict[str, torch.Tensor], source: str | os.PathLike[str] | None = None
) -> SpatialGate | None:
    """The card's layout check (``card.gate.spatial``), or None for a card without one (<= 1.1.0).

    Every inconsistency between the card and the ``gate.spatial_*`` tensors is a ModelBundleError.
    """
    spatial = card.gate.spatial
    if spatial is None:
        return None
    (rows, cols), channels = spatial.grid, spatial.channels
    tensors = {}
    for name in ("spatial_projection", "spatial_class_means", "spatial_precision"):
        value = state.get(GATE_PREFIX + name)
        if value is None:
            raise ModelBundleError(f"weights file lacks the spatial gate tensor {GATE_PREFIX}{name}", source)
        tensors[name] = value.detach().cpu().double()
    dim = rows * cols * channels
    expected = {
        "spatial_projection": (SMALL_FEATURE_DIM, channels),
        # one row per gate cluster: the training targets (e.g. 5 with the set-valued ``pneumonia``), not
        # necessarily the card's labels
        "spatial_class_means": (max(1, int(tensors["spatial_class_means"].shape[0])), dim),
        "spatial_precision": (dim, dim),
    }
    for name, shape in expected.items():
        if tuple(tensors[name].shape) != shape:
            raise ModelBundleError(
                f"spatial gate tensor {GATE_PREFIX}{name} has shape {tuple(tensors[name].shape)}; "
                f"the card's grid {rows}×{cols} and {channels} channels need {shape}",
                source,
            )
    return SpatialGate(
        (rows, cols),
        tensors["spatial_projection"],
        tensors["spatial_class_means"],
        tensors["spatial_precision"],
    )


class Classifier:
    """Calibrated 4-class probabilities, the input gate and Grad-CAM for one model bundle.

    Not thread-safe (see the module docstring): use one instance from one thread.
    """

    def __init__(
        self,
        card: ModelCard,
        network: RadiviewNet,
        class_means: torch.Tensor,
        precision: torch.Tensor,
        device: torch.device | str = "cpu",
        spatial_gate: SpatialGate | None = None,
        lung_segmenter: LungSegmenter | None = None,
    ) -> None:
        self.card = card
        self.lung_segmenter = lung_segmenter  # the lung field: heatmap clipping and the view check
        self.labels: tuple[str, ...] = card.labels
        self.preprocess_config: Preprocessing = card.preprocessing
        self.network = network.eval()
        self._target_layer = find_layer(network, card.gradcam_target_layer)
        apply_gradient_scope(network, self._target_layer)
        self._class_means = class_means.detach().cpu().double()
        self._precision = precision.detach().cpu().double()
        if (card.gate.spatial is not None) != (spatial_gate is not None):
            raise ModelBundleError("the card's gate and the spatial gate tensors given do not agree")
        self._spatial_gate = spatial_gate
        self._temperature = float(card.temperature)
        # What Prediction.model says, and the site's operating points (both set by a site bundle).
        self.model_name = card.display_name
        self.operating_points: tuple[tuple[str, float], ...] = ()
        self.site: dict[str, Any] | None = None  # a site bundle's card (site_card.json), else None
        self.bundle_dir: Path | None = None  # the (base) bundle folder it was loaded from
        self.device = torch.device("cpu")
        self.reduced_precision: torch.dtype | None = None  # autocast dtype once parity is shown
        self._move_to(torch.device(device))

    @property
    def spatial_gate(self) -> SpatialGate | None:
        """The gate's layout check (None when the card has none); read-only use, e.g. export checks."""
        return self._spatial_gate

    @classmethod
    def from_bundle(
        cls, path: str | os.PathLike[str] | None = None, device: str | torch.device = "auto"
    ) -> Classifier:
        """Load and check a bundle directory (None: the bundled model; a site folder: its base with
        the site's parts, see ``radiview.inference.site_bundle``) onto ``device``
        ("auto", "cpu", "cuda", "mps"; see radiview.inference.device for the fallback)."""
        bundle_dir = Path(path) if path is not None else default_model_dir()
        if path is not None and is_site_bundle(bundle_dir):  # every caller loads a site bundle alike
            return load_site_classifier(bundle_dir, device)
        card, state = load_bundle(bundle_dir)
        net, means, precision = build_bundle_network(card, state, bundle_dir / card.weights_file)
        spatial_gate = build_spatial_gate(card, state, bundle_dir / card.weights_file)
        target = device if isinstance(device, torch.device) else resolve_device(device)
        if target.type == "cpu":
            configure_cpu_threads()
        lungs = card.lung_segmenter
        segmenter = (
            None if lungs is None else LungSegmenter.from_bundle(bundle_dir, lungs, card.preprocessing)
        )
        clf = cls(card, net, means, precision, target, spatial_gate=spatial_gate, lung_segmenter=segmenter)
        clf.bundle_dir = bundle_dir
        log.info("model %s loaded from %s on %s", card.display_name, bundle_dir, clf.device)
        return clf

    # -- device handling ---------------------------------------------------------------

    def _move_to(self, device: torch.device) -> None:
        # channels_last is the layout cuDNN's fastest convolutions want; the CPU keeps NCHW.
        layout = torch.channels_last if device.type == "cuda" else torch.contiguous_format
        self.network.to(device)
        self.network.to(memory_format=layout)
        self.device = device
        self.reduced_precision = None  # a new device earns it again (see check_reduced_precision)

    def _guarded(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn``; on a GPU failure (e.g. out of memory) move to the CPU and retry once."""
        failed_on = self.device
        try:
            return fn()
        except RuntimeError as exc:
            if not _is_accelerator_error(exc):
                raise
            if failed_on.type == "cpu":
                raise InferenceError(f"{what} failed: {exc}") from exc
            log.warning(
                "%s failed on %s (%s); moving the model to the CPU",
                what,
                failed_on,
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
            )
        self._move_to(torch.device("cpu"))
        configure_cpu_threads()
        if failed_on.type == "cuda":
            torch.cuda.empty_cache()
        try:
            return fn()
        except RuntimeError as exc:
            raise InferenceError(f"{what} failed on the CPU after {failed_on} failed: {exc}") from exc

    # -- preprocessing -----------------------------------------------------------------

    def preprocess(self, radiograph: Radiograph) -> torch.Tensor:
        """THE preprocessing with this model's config: (C, H, W) float32 on the CPU.

        Pure and thread-safe, unlike the rest of the class: batch screening runs it in
        worker threads, then hands the stacked tensors to ``predict_tensors``.
        """
        return preprocess(radiograph, self.preprocess_config)

    def prepare_batch(self, radiographs: Sequence[Radiograph]) -> torch.Tensor:
        return torch.stack([self.preprocess(r) for r in radiographs])

    # -- predictions -------------------------------------------------------------------

    def probabilities_from_logits(self, logits: torch.Tensor) -> np.ndarray:
        """Calibrated probabilities softmax(logits / T), float64 (N, K)."""
        scaled = logits.detach().to("cpu", torch.float64) / self._temperature
        return torch.softmax(scaled, dim=1).numpy()

    def _input_std(self, batch: torch.Tensor) -> np.ndarray:
        # The normalised channel 0 is (x - mean) / std; undo the scale to get the std of the
        # windowed [0, 1] input that the gate's min_std refers to.
        return (batch[:, 0].flatten(1).std(dim=1) * self.preprocess_config.std[0]).cpu().double().numpy()

    def _verdicts(
        self,
        features: torch.Tensor,
        cells: torch.Tensor | None,
        input_std: np.ndarray,
        films: Sequence[GateFacts],
        frontal: Sequence[bool | None],
    ) -> list[GateVerdict]:
        scores = mahalanobis_scores(features, self._class_means, self._precision)
        spatial: list[float | None] = [None] * len(scores)
        if self._spatial_gate is not None:
            assert cells is not None
            spatial = [float(v) for v in self._spatial_gate.scores(cells)]
        rows = zip(scores, spatial, input_std, films, frontal, strict=True)
        return [
            gate_verdict(float(s), float(std), self.card.gate, film, spatial_score=sp, frontal_layout=front)
            for s, sp, std, film, front in rows
        ]

    def _predictions(
        self,
        logits: torch.Tensor,
        features: torch.Tensor,
        cells: torch.Tensor | None,
        batch: torch.Tensor,
        films: Sequence[Radiograph | GateFacts | None],
        lungs: np.ndarray | None = None,
    ) -> list[Prediction]:
        probs = self.probabilities_from_logits(logits)
        if lungs is None and self.lung_segmenter is not None:
            lungs = self.lung_segmenter.probabilities(batch)
        frontal = [None] * len(probs) if lungs is None else self._frontal_flags(lungs)
        facts = [_gate_facts(f) for f in films]
        verdicts = self._verdicts(features, cells, self._input_std(batch), facts, frontal)
        return [
            Prediction(
                labels=self.labels,
                probabilities=tuple(float(p) for p in row),
                gate=verdict,
                model=self.model_name,
                operating_points=self.operating_points,
            )
            for row, verdict in zip(probs, verdicts, strict=True)
        ]

    def _forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        with torch.inference_mode():
            # A pinned batch copies to the GPU asynchronously; the copy overlaps the decode.
            x = batch.to(self.device, torch.float32, non_blocking=batch.is_pinned())
            if self.device.type == "cuda":
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast_to(self.device, self.reduced_precision):
                # forward_features, unrolled: the layout gate needs the map before pooling.
                feature_map = self.network.features(x)
                features = torch.flatten(self.network.pool(feature_map), 1)
                logits = self.network.head(features)
            feature_map, features, logits = feature_map.float(), features.float(), logits.float()
            cells = None if self._spatial_gate is None else self._spatial_gate.cells(feature_map)
            return logits.cpu(), features.cpu(), cells

    def forward_outputs(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One forward pass of a preprocessed batch: logits (N, K), pooled features (N, 576) and the
        layout gate's pooled cells (N, 576, rows, cols; None without a layout check), on the CPU.
        Site validation and adaptation feature every film once through this."""
        return self._guarded("feature extraction", lambda: self._forward(batch))

    def gate_fit(self) -> GateFit:
        """The gate's tensors as a ``GateFit`` (float64 numpy), to score features without a forward pass."""
        spatial = self._spatial_gate
        if spatial is None:
            return GateFit(self._class_means.numpy(), self._precision.numpy())
        return GateFit(
            self._class_means.numpy(),
            self._precision.numpy(),
            spatial.grid,
            spatial.projection.numpy(),
            spatial.class_means.numpy(),
            spatial.precision.numpy(),
        )

    def check_reduced_precision(self, batch: torch.Tensor, dtype: torch.dtype | None = None) -> Parity:
        """Compare a ``dtype`` autocast pass (default: bf16, or fp16 on GPUs without bf16) with
        fp32 on ``batch``; keep it for later batches only if it passes (``Parity.ok``)."""
        dtype = dtype or default_reduced_dtype(self.device)
        self.reduced_precision = None
        reference = self.predict_tensors(batch, [None] * len(batch))
        self.reduced_precision = dtype
        try:
            trial = self.predict_tensors(batch, [None] * len(batch))
        except RuntimeError as exc:  # an op without a reduced-precision kernel here
            log.info("%s autocast unavailable on %s: %s", dtype, self.device, exc)
            trial = []
        parity = compare(
            np.array([p.probabilities for p in reference]),
            np.array([p.probabilities for p in trial]),
            [p.accepted for p in reference],
            [p.accepted for p in trial],
        )
        self.reduced_precision = dtype if parity.ok else None
        log.info(
            "%s autocast on %s: top class agrees on %.1f%% of %d films, max |dp| %.4f -> %s",
            str(dtype).removeprefix("torch."),
            self.device,
            100 * parity.agreement,
            parity.films,
            parity.max_delta,
            "used" if self.reduced_precision else "fp32 kept",
        )
        return parity

    def predict_tensors(
        self, batch: torch.Tensor, films: Sequence[Radiograph | GateFacts | None]
    ) -> list[Prediction]:
        """Predictions for an already preprocessed (N, C, H, W) batch, in one forward pass.

        ``films`` (same order) tell the gate what it reads besides the input: a ``GateFacts``
        (what a screening queue keeps of a film), the Radiograph itself, or None where unknown.
        """
        if batch.ndim != 4 or batch.shape[0] != len(films):
            raise ValueError(f"batch of shape {tuple(batch.shape)} does not match {len(films)} radiographs")
        if batch.shape[0] == 0:
            return []
        logits, features, cells = self._guarded("prediction", lambda: self._forward(batch))
        return self._predictions(logits, features, cells, batch, films)

    def predict_batch(self, radiographs: Sequence[Radiograph]) -> list[Prediction]:
        """One forward pass for the whole batch (preprocessing runs here, serially)."""
        if not radiographs:
            return []
        return self.predict_tensors(self.prepare_batch(radiographs), radiographs)

    def predict(self, radiograph: Radiograph) -> Prediction:
        return self.predict_batch([radiograph])[0]

    # -- explanations ------------------------------------------------------------------

    def _label_index(self, label: str | None) -> int | None:
        if label is None:
            return None
        try:
            return self.labels.index(label)
        except ValueError:
            raise ValueError(f"unknown label {label!r}; the model knows {', '.join(self.labels)}") from None

    def _frontal_flags(self, lungs: np.ndarray) -> list[bool | None]:
        assert self.lung_segmenter is not None
        return list(self.lung_segmenter.frontal_flags(lungs))

    def _cam(
        self, radiograph: Radiograph, label: str | None
    ) -> tuple[Prediction, np.ndarray, int, np.ndarray | None]:
        batch = self.preprocess(radiograph).unsqueeze(0)
        index = self._label_index(label)

        spatial_gate = self._spatial_gate
        captured: list[torch.Tensor] = []

        def keep_cells(_module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            assert spatial_gate is not None
            captured[:] = [spatial_gate.cells(output)]  # a retry on the CPU replaces it

        def run() -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
            # The layout gate reads the same forward pass through a hook on the backbone.
            hook = None if spatial_gate is None else self.network.features.register_forward_hook(keep_cells)
            try:
                return run_gradcam(self.network, self._target_layer, batch.to(self.device), index)
            finally:
                if hook is not None:
                    hook.remove()

        logits, features, maps = self._guarded("Grad-CAM", run)
        cells = captured[0] if captured else None
        lungs = None if self.lung_segmenter is None else self.lung_segmenter.probabilities(batch)
        prediction = self._predictions(logits.cpu(), features.cpu(), cells, batch, [radiograph], lungs)[0]
        explained = prediction.top_index if index is None else index
        return prediction, maps[0], explained, None if lungs is None else lungs[0]

    def _explanation(
        self, radiograph: Radiograph, heatmap: np.ndarray, index: int, lungs: np.ndarray | None
    ) -> Explanation:
        """The map at the film's resolution, clipped to the lung field where the segmenter is
        confident (``outside_lung_share``: the mass outside before clipping; None otherwise)."""
        heat = resize_heatmap(heatmap, radiograph.shape)
        outside = None
        if lungs is not None and self.lung_segmenter is not None:
            heat, outside = self.lung_segmenter.clip_heatmap(heat, lungs)
        heat.flags.writeable = False
        return Explanation(heatmap=heat, label=self.labels[index], outside_lung_share=outside)

    def analyze(
        self, radiograph: Radiograph, label: str | None = None
    ) -> tuple[Prediction, Explanation | None]:
        """Prediction and Grad-CAM from ONE forward pass (plus one backward pass).

        The explanation is for ``label`` (None: the top class) and is None when the gate
        refuses the film: no map is shown for a film the model should not read.
        """
        prediction, heatmap, index, lungs = self._cam(radiograph, label)
        if not prediction.accepted:
            return prediction, None
        return prediction, self._explanation(radiograph, heatmap, index, lungs)

    def explain(self, radiograph: Radiograph, label: str | None = None) -> Explanation:
        """Grad-CAM for ``label`` (None: the top class) at the radiograph's own resolution.

        Computed even for a film the gate refuses (the caller asked for this map); use
        ``analyze`` to honour the gate.
        """
        _, heatmap, index, lungs = self._cam(radiograph, label)
        return self._explanation(radiograph, heatmap, index, lungs)

    def gradcam_maps(self, batch: torch.Tensor, clip_to_lungs: bool = False) -> np.ndarray:
        """Grad-CAM maps (N, H, W) in [0, 1] at the input size, each for its film's top class,
        for an already preprocessed batch (batch screening's thumbnails: no second decode).
        ``clip_to_lungs``: each map clipped to its film's lung field as ``explain`` does (where
        the bundle has a segmenter and it is confident)."""
        _, _, maps = self._guarded(
            "Grad-CAM", lambda: run_gradcam(self.network, self._target_layer, batch.to(self.device))
        )
        if clip_to_lungs and self.lung_segmenter is not None:
            lungs = self.lung_segmenter.probabilities(batch)
            maps = np.stack(
                [self.lung_segmenter.clip_heatmap(m, p)[0] for m, p in zip(maps, lungs, strict=True)]
            )
        return maps


def _gate_facts(film: Radiograph | GateFacts | None) -> GateFacts:
    if film is None:
        return GateFacts()
    return film if isinstance(film, GateFacts) else GateFacts.of(film)


__all__ = ["Classifier", "build_bundle_network", "build_spatial_gate"]
