"""Decoding + the numpy half of preprocessing in worker PROCESSES, results in the items' order.

Processes, not threads: pydicom's pure-Python parsing, Pillow's and numpy's small steps hold
the GIL often enough that 8 decoding threads gave 1.4x, not 8x. Workers are spawned fresh
(they import the decoders, and torch with them, once per run: a second or two), never forked
from the process that runs the model. At most ``window``
films are in flight, so memory stays bounded however long the run; each result is matched to
its item, so the order of completion never matters.

A decoder that crashes its process (a segfault in a C codec) costs one worker, not the run:
the pool is rebuilt and the film in hand is retried alone; if it crashes again it becomes that
film's error, and the others carry on. If worker processes cannot start at all (a sandbox),
decoding falls back to threads with one log line; a frozen build uses threads from the start.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import warnings
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

from radiview.batch.decode import PreparedFilm, collect_warning, prepare_film
from radiview.batch.records import ScreeningItem

if TYPE_CHECKING:
    from radiview.inference.preprocess import PreprocessConfig

log = logging.getLogger("radiview.batch")

CRASHED = "the decoder crashed while reading this file; it may be damaged"


def processes_available() -> bool:
    """Worker processes are used unless this is a frozen build (PyInstaller): there the
    entry point would have to re-dispatch every worker, so threads are the safe choice."""
    return not getattr(sys, "frozen", False)


def _init_worker(parent_pid: int) -> None:
    """In each worker process: Ctrl-C is the main process's to handle (it cancels the run and
    stops the pool), and on Linux the worker dies with its parent, so a killed run leaves no
    orphan decoding process behind (holding, say, the terminal's or a pipe's output open)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warnings.showwarning = collect_warning  # into the film's record, not raw onto stderr
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(0)


class DecodePool:
    """``iter_prepared(items)`` yields ``(item, PreparedFilm | Exception)`` in the items' order."""

    def __init__(
        self,
        config: PreprocessConfig,
        workers: int,
        processes: bool,
        window: int,
        prepare: Callable[[Path, PreprocessConfig], PreparedFilm] = prepare_film,
    ) -> None:
        self.config = config
        self.prepare = prepare  # a module-level function: worker processes import it by name
        self.workers = max(1, workers)
        self.window = max(1, window)
        self.processes = processes and processes_available()
        self._executor = self._new_executor()
        self._succeeded = False

    def _new_executor(self) -> Executor:
        if self.processes:
            # spawn, not fork (the model's threads must not be copied mid-lock) nor forkserver
            # (its server outlives a killed run and keeps the run's output pipes open).
            return ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(os.getpid(),),
            )
        return ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="radiview-decode")

    def _submit(self, item: ScreeningItem) -> Future[PreparedFilm]:
        try:
            return self._executor.submit(self.prepare, item.path, self.config)
        except (OSError, RuntimeError) as exc:  # processes cannot even start here
            if not self.processes:
                raise
            log.info("decoding worker processes unavailable (%s); decoding in threads", exc)
            self._executor.shutdown(wait=False, cancel_futures=True)
            self.processes = False
            self._executor = self._new_executor()
            return self._executor.submit(self.prepare, item.path, self.config)

    def iter_prepared(
        self, items: Iterable[ScreeningItem]
    ) -> Generator[tuple[ScreeningItem, PreparedFilm | Exception], None, None]:
        queue = iter(items)
        pending: deque[tuple[ScreeningItem, Future[PreparedFilm]]] = deque()

        def fill() -> None:
            while len(pending) < self.window and (item := next(queue, None)) is not None:
                pending.append((item, self._submit(item)))

        fill()
        while pending:
            item, future = pending.popleft()
            try:
                result: PreparedFilm | Exception = future.result()
                self._succeeded = True
            except BrokenProcessPool as exc:
                # Any film in flight may have crashed the pool: retry this one alone to know.
                self._rebuild(exc)
                result = self._alone(item)
                pending = deque((it, self._submit(it)) for it, _ in pending)
            except Exception as exc:  # any decoder failure is this film's error, never fatal
                result = exc
            fill()
            yield item, result

    def _alone(self, item: ScreeningItem) -> PreparedFilm | Exception:
        try:
            result = self._submit(item).result()
            self._succeeded = True
            return result
        except BrokenProcessPool as exc:
            log.warning("%s: %s", item.key, CRASHED)
            self._rebuild(exc)
            return RuntimeError(CRASHED)
        except Exception as exc:
            return exc

    def _rebuild(self, exc: BaseException) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        if not self._succeeded:  # the pool never produced anything: processes do not work here
            log.info("decoding worker processes unavailable (%s); decoding in threads", exc)
            self.processes = False
        else:
            log.warning("a decoding worker process died; restarting the pool")
        self._executor = self._new_executor()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
