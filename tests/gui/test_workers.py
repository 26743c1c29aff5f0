"""GeneratorWorker and the answer() wrapper on real QThreads (no model needed)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QObject, Signal, Slot

from radiview.errors import RadiviewError
from radiview.gui.workers import GeneratorWorker, TaskError, answer, start_worker_thread, stop_worker_thread


class _Probe(QObject):
    """Lives on the worker's thread; records when a queued call ran there."""

    ping = Signal()

    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log
        self.ping.connect(self.on_ping)

    @Slot()
    def on_ping(self) -> None:
        self.log.append("ping")


def test_queued_calls_run_between_items_without_a_nested_loop(qtbot) -> None:  # type: ignore[no-untyped-def]
    log: list[str] = []
    release = threading.Event()
    thread_probe = _Probe(log)
    thread = start_worker_thread(thread_probe, "test-generator")

    def items(cancel: threading.Event) -> Iterator[int]:
        for i in range(4):
            if i == 1:
                release.wait(5)  # the GUI posts a ping meanwhile
            log.append(f"item {i}")
            yield i

    worker = GeneratorWorker(items, "Test run")
    worker.moveToThread(thread)
    yielded: list[int] = []
    worker.yielded.connect(yielded.append)
    try:
        worker.start_in_own_thread()
        qtbot.waitUntil(lambda: "item 0" in log, timeout=5000)
        thread_probe.ping.emit()  # queued to the worker's thread while it waits in item 1
        release.set()
        qtbot.waitUntil(lambda: worker.is_done() and len(yielded) == 4, timeout=10000)
    finally:
        release.set()
        assert stop_worker_thread(thread)
    assert yielded == [0, 1, 2, 3]
    # The ping runs in the worker thread's own loop between two steps, not after the run ends.
    assert log.index("ping") < log.index("item 3")
    assert worker.is_done() and not worker.abort_requested


def test_generator_error_becomes_task_error_then_finished(qtbot) -> None:  # type: ignore[no-untyped-def]
    thread = start_worker_thread(QObject(), "test-generator-error")

    def items(cancel: threading.Event) -> Iterator[int]:
        yield 1
        raise RadiviewError("folder vanished", "/films")

    worker = GeneratorWorker(items, "Screening failed")
    worker.moveToThread(thread)
    errors: list[TaskError] = []
    worker.errored.connect(errors.append)
    worker.start_in_own_thread()
    qtbot.waitUntil(lambda: worker.is_done() and len(errors) == 1, timeout=10000)
    assert [(e.title, e.path) for e in errors] == [("Screening failed", "/films")]
    assert "folder vanished" in errors[0].message
    assert stop_worker_thread(thread)


def test_quit_then_stopping_the_thread_closes_the_generator(qtbot) -> None:  # type: ignore[no-untyped-def]
    closed = threading.Event()
    thread = start_worker_thread(QObject(), "test-generator-stop")

    def items(cancel: threading.Event) -> Iterator[int]:
        try:
            while True:
                yield 0
                cancel.wait(0.01)
        finally:
            closed.set()  # the engine closes its journal here

    worker = GeneratorWorker(items)
    worker.moveToThread(thread)
    started = threading.Event()
    worker.yielded.connect(lambda _item: started.set())
    worker.start_in_own_thread()
    qtbot.waitUntil(started.is_set, timeout=5000)
    worker.quit()
    assert stop_worker_thread(thread)
    assert worker.is_done() and closed.is_set()


class _Answerer(QObject):
    done = Signal(object)
    failed = Signal(object)


@pytest.mark.parametrize(
    ("work", "expected"),
    [
        (lambda: 42, ("done", 42)),
        (lambda: 1 / 0, ("failed", "ZeroDivisionError: division by zero")),
    ],
)
def test_answer_emits_result_or_task_error(work, expected) -> None:  # type: ignore[no-untyped-def]
    source = _Answerer()
    seen: list[tuple[str, object]] = []
    source.done.connect(lambda value: seen.append(("done", value)))
    source.failed.connect(lambda error: seen.append(("failed", error.message)))
    answer(source.done, source.failed, 7, "Sum", work)
    assert seen == [expected]
