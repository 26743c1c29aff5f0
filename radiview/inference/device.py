"""Where the model runs, and how many CPU threads torch may use.

Policy for an explicit device that is not available (e.g. ``"cuda"`` saved in the settings
of a machine that has since lost its GPU, or a CPU-only installer): fall back to the CPU
and log a warning, so the app still works. Pass ``strict=True`` to get an InferenceError
instead (the CLI does, when the user typed ``--device cuda``). An unknown name is always
an InferenceError.
"""

from __future__ import annotations

import logging
import os

import torch

from radiview.errors import InferenceError

log = logging.getLogger("radiview.inference")

DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")
#: Above this, extra threads slow a 0.06-GFLOP network down (sync cost beats the gain).
MAX_CPU_THREADS = 8

_threads_configured: int | None = None


def _cuda_ok() -> bool:
    try:
        return bool(torch.cuda.is_available())
    except Exception:  # a broken driver must not stop the CPU path
        return False


def _mps_ok() -> bool:
    backend = getattr(torch.backends, "mps", None)
    try:
        return bool(backend is not None and backend.is_available())
    except Exception:
        return False


def available_devices() -> list[str]:
    """Device names usable here, for the settings dialog: always "auto" and "cpu" first."""
    names = ["auto", "cpu"]
    if _cuda_ok():
        names.append("cuda")
    if _mps_ok():
        names.append("mps")
    return names


def resolve_device(name: str = "auto", strict: bool = False) -> torch.device:
    """``"auto"``: CUDA, else MPS, else CPU. ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``
    explicitly; an unavailable explicit device falls back to the CPU with a warning (or
    raises InferenceError when ``strict``)."""
    key = (name or "auto").strip().lower()
    base = key.split(":", 1)[0]
    if base not in DEVICE_NAMES or (":" in key and base != "cuda"):
        raise InferenceError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_NAMES)}")
    if base == "auto":
        if _cuda_ok():
            return torch.device("cuda")
        if _mps_ok():
            return torch.device("mps")
        return torch.device("cpu")
    if base == "cpu":
        return torch.device("cpu")
    available = _cuda_ok() if base == "cuda" else _mps_ok()
    if available and base == "cuda" and ":" in key:
        try:
            index = int(key.split(":", 1)[1])
        except ValueError as exc:
            raise InferenceError(f"unknown device {name!r}") from exc
        available = 0 <= index < torch.cuda.device_count()
    if available:
        return torch.device(key)
    problem = f"device {name!r} is not available on this machine"
    if strict:
        raise InferenceError(problem)
    log.warning("%s; using the CPU instead", problem)
    return torch.device("cpu")


def physical_cpu_count() -> int:
    """Physical cores usable by this process (hyper-threads do not help conv inference)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        usable = os.cpu_count() or 1
    cores: set[tuple[str, str]] = set()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            physical = core = ""
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "physical id":
                    physical = value.strip()
                elif key == "core id":
                    core = value.strip()
                elif not line.strip() and core:
                    cores.add((physical, core))
                    physical = core = ""
            if core:
                cores.add((physical, core))
    except OSError:
        pass
    return max(1, min(usable, len(cores))) if cores else max(1, usable)


def configure_cpu_threads(n: int | None = None) -> int:
    """Set torch's intra-op thread count once, deliberately, and return it.

    Order: ``n``; the ``RADIVIEW_NUM_THREADS`` environment variable; the physical core
    count capped at MAX_CPU_THREADS. Calling it again with ``n=None`` keeps the first choice.
    """
    global _threads_configured
    if n is None and _threads_configured is not None:
        return _threads_configured
    if n is None:
        env = os.environ.get("RADIVIEW_NUM_THREADS", "").strip()
        if env:
            try:
                n = int(env)
            except ValueError:
                log.warning("ignoring RADIVIEW_NUM_THREADS=%r: not an integer", env)
        if n is None:
            n = min(physical_cpu_count(), MAX_CPU_THREADS)
    n = max(1, int(n))
    torch.set_num_threads(n)
    _threads_configured = n
    log.info("torch CPU threads: %d", n)
    return n
