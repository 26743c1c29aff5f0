"""The AI second reader: model bundle, THE preprocessing, classifier, input gate, Grad-CAM.

Imports torch; never Qt. See ``Classifier`` for the entry point.
"""

import os

# Set before torch loads its OpenMP runtime: idle OpenMP workers then sleep instead of
# spinning. With the default spin policy a busy machine (other apps, or our own preprocessing
# threads) made a CPU forward 10-40x slower and burnt 30x the CPU time (benchmarks/
# bench_inference.py). Takes effect only if torch was not imported earlier; a value the
# user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from radiview.inference.bundle import ModelCard, load_bundle
from radiview.inference.classifier import Classifier
from radiview.inference.device import available_devices, configure_cpu_threads, resolve_device
from radiview.inference.prediction import Explanation, GateVerdict, Prediction
from radiview.inference.preprocess import PreprocessConfig, preprocess

__all__ = [
    "Classifier",
    "Explanation",
    "GateVerdict",
    "ModelCard",
    "Prediction",
    "PreprocessConfig",
    "available_devices",
    "configure_cpu_threads",
    "load_bundle",
    "preprocess",
    "resolve_device",
]
