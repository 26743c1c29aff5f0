"""The AI second reader: model bundle, THE preprocessing, classifier, input gate, Grad-CAM.

Imports torch; never Qt. See ``Classifier`` for the entry point.
"""

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
