"""Device resolution and the CPU thread policy."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from radiview.errors import InferenceError
from radiview.inference import Classifier, available_devices, resolve_device
from radiview.inference import device as device_module

NO_CUDA = not torch.cuda.is_available()


def test_cpu_and_auto() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else ("mps" if "mps" in available_devices() else "cpu")
    assert resolve_device("auto").type == expected
    assert resolve_device("").type == expected
    assert available_devices()[:2] == ["auto", "cpu"]
    assert ("cuda" in available_devices()) == torch.cuda.is_available()


def test_unknown_device_name_is_an_error() -> None:
    with pytest.raises(InferenceError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    with pytest.raises(InferenceError, match="unknown device"):
        resolve_device("cpu:3")


@pytest.mark.skipif(not NO_CUDA, reason="documents the behaviour without a GPU")
def test_unavailable_cuda_falls_back_to_cpu_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="radiview"):
        assert resolve_device("cuda") == torch.device("cpu")
        assert resolve_device("cuda:1") == torch.device("cpu")
    assert "device 'cuda' is not available on this machine; using the CPU instead" in caplog.text
    with pytest.raises(InferenceError, match="device 'cuda' is not available"):
        resolve_device("cuda", strict=True)


@pytest.mark.skipif(not NO_CUDA, reason="documents the behaviour without a GPU")
def test_classifier_asked_for_cuda_runs_on_the_cpu(tiny_bundle: Path) -> None:
    clf = Classifier.from_bundle(tiny_bundle, device="cuda")
    assert clf.device == torch.device("cpu")
    assert next(clf.network.parameters()).device.type == "cpu"


@pytest.mark.skipif(NO_CUDA, reason="needs a CUDA GPU")
def test_cuda_when_available(tiny_bundle: Path) -> None:
    assert resolve_device("cuda").type == "cuda"
    clf = Classifier.from_bundle(tiny_bundle, device="cuda")
    assert next(clf.network.parameters()).is_cuda


def test_thread_count_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    before = torch.get_num_threads()
    saved = device_module._threads_configured
    try:
        monkeypatch.setattr(device_module, "_threads_configured", None)
        monkeypatch.setenv("RADIVIEW_NUM_THREADS", "1")
        assert device_module.configure_cpu_threads() == 1
        assert torch.get_num_threads() == 1
        # Later calls without a number keep the first deliberate choice.
        monkeypatch.setenv("RADIVIEW_NUM_THREADS", "3")
        assert device_module.configure_cpu_threads() == 1
        # Without the variable: physical cores, capped.
        monkeypatch.setattr(device_module, "_threads_configured", None)
        monkeypatch.delenv("RADIVIEW_NUM_THREADS")
        n = device_module.configure_cpu_threads()
        assert n == min(device_module.physical_cpu_count(), device_module.MAX_CPU_THREADS)
        assert 1 <= device_module.physical_cpu_count() <= (torch.multiprocessing.cpu_count() or 1)
        assert device_module.configure_cpu_threads(2) == 2 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
        device_module._threads_configured = saved


@pytest.mark.slow
def test_openmp_workers_sleep_by_default() -> None:
    code = "import os, radiview.inference; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"
