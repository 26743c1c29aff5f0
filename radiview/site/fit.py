"""Fitting a site's parts on its adapt films: the gate (site clusters added to the base gate), a
temperature, operating points and, with enough labels, a head refit regularised toward the base."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import torch

from radiview.inference.card import GateSpec
from radiview.inference.fitting_calibration import (
    fit_temperature,
    softmax,
    threshold_for_specificity,
    youden_threshold,
)
from radiview.inference.fitting_gate import GateFit, fit_gate_features
from radiview.inference.metrics import set_membership
from radiview.inference.prediction import PNEUMONIA
from radiview.site.features import SiteFeatures, gate_accepts, gate_scores
from radiview.site.measure import scored_classes, truth_mask
from radiview.site.report import ModelParts

log = logging.getLogger("radiview.site")

#: Per-check tail quantile of the site's out-of-fold distances the refitted gate accepts, and the
#: fallbacks tried, in order, when the bundled OOD bank would be refused less than OOD_REFUSAL.
GATE_ACCEPTANCE_LADDER = (0.9999, 0.999, 0.998, 0.995, 0.99, 0.98, 0.95)
OOD_REFUSAL = 0.95
MIN_PER_LABEL = 10  # films per label before a temperature or threshold is fitted on them
MIN_HEAD_PER_LABEL = 20  # films per label (two labels at least) before a head refit is tried
PRIOR_L2 = 1.0  # penalty on the class-prior shift, per film
HEAD_L2 = 0.1  # penalty on ||W − I/T||² + ||b||² per film: the refit stays near the base head


@dataclass
class SiteFit:
    parts: ModelParts
    # z ↦ W z + b applied to the base logits (a class-prior correction or a logit-space head refit),
    # folded into the last layer when the bundle is written; None: the base logits as they are
    head: tuple[np.ndarray, np.ndarray] | None = None
    adapted: list[str] = field(default_factory=list)
    not_adapted: list[str] = field(default_factory=list)
    gate_info: dict[str, Any] = field(default_factory=dict)


def _cluster_ids(site_labels: Sequence[str]) -> np.ndarray:
    """One gate cluster per site label with enough films; the rest share one. Indices 0..C-1."""
    names = sorted(set(site_labels))
    big = [n for n in names if list(site_labels).count(n) >= MIN_PER_LABEL]
    index = {n: i for i, n in enumerate(big)}
    raw = np.asarray([index.get(label, len(big)) for label in site_labels])
    return np.unique(raw, return_inverse=True)[1]


def fit_site_gate(base: GateFit, feats: SiteFeatures, clusters: np.ndarray) -> GateFit:
    """The site's own clusters and Ledoit–Wolf precision (the base's layout projection kept): the
    training data's spread says little about a new scanner's, so the site's films define it."""
    return fit_gate_features(
        feats.features,
        clusters,
        int(clusters.max()) + 1,
        feats.cells if base.has_spatial else None,
        projection=base.spatial_projection,
    )


def _out_of_fold_scores(
    base: GateFit, feats: SiteFeatures, clusters: np.ndarray, patients: Sequence[str]
) -> np.ndarray:
    """Each adapt film's distances to a gate fitted without its patient fold (5 folds)."""
    uniq, inverse = np.unique(np.asarray(patients), return_inverse=True)
    folds = np.random.default_rng(0).permutation(len(uniq))[inverse] % 5
    scores = np.zeros((len(clusters), 2 if base.has_spatial else 1))
    for f in range(5):
        held = folds == f
        if not held.any():
            continue
        gate = fit_site_gate(base, feats.subset(np.flatnonzero(~held)), clusters[~held])
        scores[held] = gate_scores(gate, feats.subset(np.flatnonzero(held)))
    return scores


def tail_thresholds(scores: np.ndarray, rate: float) -> np.ndarray:
    """Per check, the ``rate`` quantile of a gamma law fitted (moments) to the squared out-of-fold
    distances, by the Wilson–Hilferty cube-root approximation: a few hundred films say little
    about their own 99.9th percentile, and a squared Mahalanobis distance is near-gamma."""
    z = NormalDist().inv_cdf(rate)
    out = []
    for col in np.asarray(scores, dtype=np.float64).T:
        d2 = col**2
        mean, var = float(d2.mean()), float(max(d2.var(), 1e-12))
        shape, scale = mean * mean / var, var / mean
        cube = max(1.0 - 1.0 / (9.0 * shape) + z * math.sqrt(1.0 / (9.0 * shape)), 0.0) ** 3
        out.append(max(math.sqrt(shape * scale * cube), float(col.max())))
    return np.asarray(out)


def _spec_with(spec: GateSpec, thresholds: np.ndarray) -> GateSpec:
    data = spec.to_dict()
    data["threshold"] = float(thresholds[0])
    if spec.spatial is not None and len(thresholds) > 1:
        data["spatial"] = {**data["spatial"], "threshold": float(thresholds[1])}
    data["fitted_on"] = (
        "site adaptation: base gate plus the site's cluster means; thresholds from the adapt films"
    )
    return GateSpec.from_dict(data)


def ood_refusal(gate: GateFit, spec: GateSpec, bank: Mapping[str, Any]) -> dict[str, Any]:
    """Refusal of the bundled OOD feature bank (overall and per kind) by a gate."""
    feats = SiteFeatures(
        [],
        np.zeros((0, 4)),
        bank["features"],
        bank["cells"],
        bank["input_std"],
        [_no_facts()] * len(bank["features"]),
        [],
    )
    accepted, _ = gate_accepts(spec, gate_scores(gate, feats), feats)
    kinds = np.asarray(bank["kinds"])
    return {
        "n": len(kinds),
        "refusal_rate": round(float((~accepted).mean()), 4),
        "by_kind": {k: round(float((~accepted[kinds == k]).mean()), 4) for k in sorted(set(kinds.tolist()))},
    }


def _no_facts() -> Any:
    from radiview.inference.gate import GateFacts

    return GateFacts()


def fit_gate_for_site(
    base: GateFit,
    spec: GateSpec,
    feats: SiteFeatures,
    site_labels: Sequence[str],
    patients: Sequence[str],
    bank: Mapping[str, Any] | None,
) -> tuple[GateFit, GateSpec, dict[str, Any]]:
    """Site clusters added; thresholds at the first ladder rate whose gate still refuses the OOD bank."""
    clusters = _cluster_ids(site_labels)
    gate = fit_site_gate(base, feats, clusters)
    oof = _out_of_fold_scores(base, feats, clusters, patients)
    info: dict[str, Any] = {"clusters": int(clusters.max()) + 1, "tried": []}
    chosen = None
    for rate in GATE_ACCEPTANCE_LADDER:
        site_spec = _spec_with(spec, tail_thresholds(oof, rate))
        refusal = ood_refusal(gate, site_spec, bank) if bank is not None else None
        info["tried"].append({"tail_quantile_per_check": rate, "ood": refusal})
        chosen = (gate, site_spec)
        if refusal is None or refusal["refusal_rate"] >= OOD_REFUSAL:
            break
    assert chosen is not None
    info["ood"] = info["tried"][-1]["ood"]
    info["tail_quantile_per_check"] = info["tried"][-1]["tail_quantile_per_check"]
    ood = info["ood"]
    info["ood_target_met"] = ood is None or ood["refusal_rate"] >= OOD_REFUSAL
    info["method"] = (
        "site clusters (one per label) and the site's own Ledoit-Wolf precision on its adapt films; "
        "each check's threshold at a gamma-tail quantile of the out-of-fold distances"
    )
    return chosen[0], chosen[1], info


def passes_basic_checks(spec: GateSpec, feats: SiteFeatures) -> np.ndarray:
    """Films the gate's non-distance checks accept (view position, near-uniform, colour photograph)."""
    from radiview.inference.gate import view_position_reason

    return np.asarray(
        [
            view_position_reason(f.view_position) is None
            and std >= spec.min_std
            and not (f.was_color and f.colorfulness is not None and f.colorfulness > spec.max_colorfulness)
            for f, std in zip(feats.facts, feats.input_std, strict=True)
        ],
        dtype=bool,
    )


def label_groups(site_labels: Sequence[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for label in site_labels:
        counts[label] = counts.get(label, 0) + 1
    return counts


def fit_operating_points(
    probs: np.ndarray, truth: Sequence[frozenset[int]], labels: Sequence[str], covid_specificity: float
) -> tuple[dict[str, float], list[str]]:
    """COVID-19: the lowest threshold keeping ``covid_specificity`` on the non-COVID films (never under
    0.5 when the site has no COVID-19 film: nothing to gain there). Pneumonia (bacterial + viral): the
    Youden point against the site's normal films. A point needs MIN_PER_LABEL films on each side."""
    classes = scored_classes(labels)
    points: dict[str, float] = {}
    notes: list[str] = []
    pos, neg = set_membership(truth, classes["covid19"])
    if neg.sum() >= MIN_PER_LABEL:
        t = threshold_for_specificity(
            probs[:, labels.index("covid19")], probs[neg, labels.index("covid19")], covid_specificity
        )
        points["covid19"] = round(max(t, 0.5) if pos.sum() == 0 else t, 4)
    else:
        notes.append(f"COVID-19 operating point: fewer than {MIN_PER_LABEL} non-COVID films")
    p_pos, _ = set_membership(truth, classes[PNEUMONIA])
    normal = np.asarray([t == frozenset([labels.index("normal")]) for t in truth])
    if p_pos.sum() >= MIN_PER_LABEL and normal.sum() >= MIN_PER_LABEL:
        score = probs[:, sorted(classes[PNEUMONIA])].sum(axis=1)
        keep = p_pos | normal
        youden = youden_threshold(score[keep], p_pos[keep])
        if youden is not None:
            points[PNEUMONIA] = round(youden, 4)
    else:
        notes.append(
            f"pneumonia operating point: needs {MIN_PER_LABEL} pneumonia and {MIN_PER_LABEL} normal films"
        )
    return points, notes


def fit_logit_head(
    logits: np.ndarray, mask: np.ndarray, l2: float = HEAD_L2
) -> tuple[np.ndarray, np.ndarray]:
    """A head refit in logit space: z' = W z + b (K×K + K numbers, not the 2500×K last layer, so a few
    hundred films suffice), by set-valued NLL + l2/N·(||W − I/T||² + ||b||²), T the site temperature
    (the start and the anchor: the refit stays near the temperature-scaled base head). L-BFGS, float64."""
    temperature = fit_temperature(logits, mask)
    z = torch.from_numpy(logits.astype(np.float64))
    target = torch.from_numpy(mask)
    anchor = torch.eye(z.shape[1], dtype=torch.float64) / temperature
    w = anchor.clone().requires_grad_(True)
    b = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=300, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logp = torch.log_softmax(z @ w.T + b, dim=1)
        nll = -torch.logsumexp(logp.masked_fill(~target, float("-inf")), dim=1).mean()
        loss = nll + l2 / len(z) * (((w - anchor) ** 2).sum() + (b**2).sum())
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


def fold_into_last_layer(
    weight: np.ndarray, bias: np.ndarray, w: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The last layer (A, c) followed by z ↦ W z + b, as one layer: (W A, W c + b)."""
    return w @ weight, w @ bias + b


def fit_temperature_shift(
    logits: np.ndarray, mask: np.ndarray, l2: float = PRIOR_L2
) -> tuple[float, np.ndarray]:
    """T and a per-class logit shift s (softmax((z + s) / T)), by set-valued NLL + l2/N·||s/T||²: a
    class-prior correction for a site whose case mix differs from the training data's."""
    z = torch.from_numpy(logits.astype(np.float64))
    target = torch.from_numpy(mask)
    log_t = torch.tensor([math.log(fit_temperature(logits, mask))], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(z.shape[1], dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t, bias], max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logp = torch.log_softmax(z / torch.exp(log_t) + bias, dim=1)
        nll = -torch.logsumexp(logp.masked_fill(~target, float("-inf")), dim=1).mean()
        loss = nll + l2 / len(z) * (bias**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    temperature = float(torch.exp(log_t.detach())[0])
    return temperature, bias.detach().numpy() * temperature


def _set_nll(logits: np.ndarray, mask: np.ndarray) -> float:
    p = softmax(logits)
    return float(-np.mean(np.log(np.clip((p * mask).sum(axis=1), 1e-12, None))))


def choose_calibration(logits: np.ndarray, mask: np.ndarray, folds: int = 5) -> tuple[float, np.ndarray, str]:
    """Temperature alone, or temperature and class-prior shift: whichever has the lower 5-fold
    held-out NLL on the adapt films (the simpler one on a tie)."""
    order = np.random.default_rng(0).permutation(len(logits)) % folds
    nll_t, nll_ts = 0.0, 0.0
    for f in range(folds):
        fit, held = order != f, order == f
        if not held.any():
            continue
        t = fit_temperature(logits[fit], mask[fit])
        t2, shift = fit_temperature_shift(logits[fit], mask[fit])
        nll_t += _set_nll(logits[held] / t, mask[held]) * held.sum()
        nll_ts += _set_nll((logits[held] + shift) / t2, mask[held]) * held.sum()
    if nll_ts < nll_t:
        temperature, shift = fit_temperature_shift(logits, mask)
        text = ", ".join(f"{v:+.2f}" for v in shift / temperature)
        return (
            temperature,
            shift,
            f" with a class-prior shift ({text}; held-out NLL {nll_ts / len(logits):.3f} "
            f"vs {nll_t / len(logits):.3f} for the temperature alone)",
        )
    return fit_temperature(logits, mask), np.zeros(logits.shape[1]), ""


def fit_calibration(
    logits: np.ndarray,
    truth: Sequence[frozenset[int]],
    site_labels: Sequence[str],
    labels: Sequence[str],
    base_temperature: float,
    covid_specificity: float,
    refit_temperature: bool = True,
) -> tuple[float, np.ndarray, dict[str, float], list[str], list[str]]:
    """Temperature (with two labels of MIN_PER_LABEL films; a class-prior shift too when it predicts
    held-out films better, ``choose_calibration``), then operating points on the calibrated probs.
    Returns (T, logit shift (K,), points, what was adapted, what was not)."""
    adapted, notes = [], []
    groups = label_groups(site_labels)
    temperature = base_temperature
    shift = np.zeros(len(labels))
    if not refit_temperature:
        pass
    elif sum(1 for n in groups.values() if n >= MIN_PER_LABEL) >= 2:
        temperature, shift, note = choose_calibration(logits, truth_mask(truth, len(labels)))
        adapted.append(f"temperature {base_temperature:.3f} → {temperature:.3f}" + note)
    else:
        notes.append(
            f"temperature (kept the base {base_temperature:.3f}): needs two labels of {MIN_PER_LABEL} films"
        )
    points, point_notes = fit_operating_points(
        softmax(logits + shift, temperature), truth, labels, covid_specificity
    )
    adapted += [f"operating point {k} ≥ {v:.3f}" for k, v in points.items()]
    return temperature, shift, points, adapted, notes + point_notes
