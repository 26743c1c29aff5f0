"""Application entry: `radiview [FILE...]` → ``run_app(files)``.

Sets up the QApplication (Fusion + a dark palette for reading rooms), a log file in the
user config dir, the first-run research-use acknowledgement, and the ONE ``sys.excepthook``
that logs an unexpected exception and shows it with its traceback while the app keeps
running. Expected failures never get here: they arrive as worker signals and show a
specific dialog.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import replace
from logging.handlers import RotatingFileHandler
from types import TracebackType
from typing import NoReturn

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QDialog, QWidget

from radiview import __version__
from radiview.gui.dialogs.acknowledge import AcknowledgeDialog
from radiview.gui.dialogs.errors import show_error
from radiview.settings import Settings, config_dir, load_settings, save_settings

log = logging.getLogger("radiview.gui")

ExceptHook = Callable[[type[BaseException], BaseException, TracebackType | None], object]


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style with a dark palette (dim reading rooms); accents in amber."""
    app.setStyle("Fusion")
    palette = QPalette()
    base, window, text = QColor(30, 30, 30), QColor(45, 45, 48), QColor(225, 225, 225)
    disabled = QColor(120, 120, 120)
    palette.setColor(QPalette.ColorRole.Window, window)
    palette.setColor(QPalette.ColorRole.WindowText, text)
    palette.setColor(QPalette.ColorRole.Base, base)
    palette.setColor(QPalette.ColorRole.AlternateBase, QColor(38, 38, 40))
    palette.setColor(QPalette.ColorRole.ToolTipBase, QColor(60, 60, 60))
    palette.setColor(QPalette.ColorRole.ToolTipText, text)
    palette.setColor(QPalette.ColorRole.Text, text)
    palette.setColor(QPalette.ColorRole.Button, window)
    palette.setColor(QPalette.ColorRole.ButtonText, text)
    palette.setColor(QPalette.ColorRole.BrightText, QColor(255, 80, 80))
    palette.setColor(QPalette.ColorRole.Link, QColor(240, 170, 80))
    palette.setColor(QPalette.ColorRole.Highlight, QColor(200, 120, 40))
    palette.setColor(QPalette.ColorRole.HighlightedText, QColor(0, 0, 0))
    palette.setColor(QPalette.ColorRole.PlaceholderText, disabled)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    app.setPalette(palette)


def ensure_application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("RadiView")
    app.setApplicationDisplayName("RadiView")
    app.setOrganizationName("RadiView")
    app.setApplicationVersion(__version__)
    return app


def install_log_file() -> logging.Handler | None:
    """A rotating log in the user config dir (named in the error dialog); None if unwritable."""
    try:
        folder = config_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = RotatingFileHandler(
            folder / "radiview.log", maxBytes=1_000_000, backupCount=2, encoding="utf-8"
        )
    except OSError as exc:
        log.warning("no log file: %s", exc)
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("radiview")
    logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > logging.INFO:
        logger.setLevel(logging.INFO)
    return handler


def install_excepthook(parent: Callable[[], QWidget | None] | None = None) -> Callable[[], None]:
    """Route unexpected exceptions to the log and a traceback dialog; returns an uninstaller.

    ``parent`` gives the dialog's parent window at the time of the error. Ctrl-C (and
    exceptions raised while no QApplication exists) go to the previous hook.
    """
    previous: ExceptHook = sys.excepthook

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt) or QApplication.instance() is None:
            previous(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        log.error("unexpected error\n%s", details)
        where = config_dir() / "radiview.log"
        try:
            show_error(
                parent() if parent is not None else QApplication.activeWindow(),
                "Unexpected error",
                f"{exc_type.__name__}: {exc}\n\nRadiView keeps running. The details are also in {where}.",
                details,
            )
        except Exception:  # never let the hook itself raise
            previous(exc_type, exc, tb)

    sys.excepthook = hook

    def uninstall() -> None:
        if sys.excepthook is hook:
            sys.excepthook = previous

    return uninstall


def acknowledge_notice(settings: Settings, parent: QWidget | None = None) -> Settings | None:
    """First run: show the research-use notice; the acknowledged settings, or None if declined."""
    if settings.notice_acknowledged:
        return settings
    dialog = AcknowledgeDialog(parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return None
    acknowledged = replace(settings, notice_acknowledged=True)
    save_settings(acknowledged)
    return acknowledged


NO_DISPLAY_MESSAGE = (
    "radiview: no display: use xvfb-run (xvfb-run -a radiview) or a desktop session; "
    "the headless commands 'radiview predict' and 'radiview screen' need none"
)


def missing_display(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """True where Qt would abort for want of a display (Linux, an X11/Wayland platform plugin,
    neither DISPLAY nor WAYLAND_DISPLAY set); Qt's own message there blames xcb-cursor."""
    if not platform.startswith("linux"):
        return False
    plugin = environ.get("QT_QPA_PLATFORM", "").split(":")[0].strip().lower()
    if plugin not in ("", "xcb", "wayland", "wayland-egl"):
        return False  # offscreen, minimal, vnc, eglfs ... need no display server
    return not (environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


def run_app(
    files: list[str] | None = None, bundle_dir: str | None = None, exit_when_done: bool = False
) -> int:
    """Start the viewer (optionally opening ``files``); returns the exit code.

    ``exit_when_done`` (the ``radiview`` command) ends the process as soon as the window has
    shut down and everything is written: Python's own teardown of torch, SciPy, OpenCV and
    Matplotlib (grad-cam's imports) took 1.3-2.5 s of garbage-collection passes after the
    window was gone, which is what made quitting slow; no worker thread was waiting.
    """
    code = _run_app(files, bundle_dir)
    if exit_when_done:
        exit_process(code)
    return code


def exit_process(code: int) -> NoReturn:
    """Flush logs and standard streams, then end the process without interpreter teardown."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _run_app(files: list[str] | None, bundle_dir: str | None) -> int:
    from radiview.gui.main_window import MainWindow

    if missing_display(os.environ):
        print(NO_DISPLAY_MESSAGE, file=sys.stderr)
        return 2
    app = ensure_application()
    apply_dark_theme(app)
    handler = install_log_file()
    try:
        settings = acknowledge_notice(load_settings())
        if settings is None:
            log.info("research-use notice declined; exiting")
            return 1
        window = MainWindow(settings=settings, bundle_dir=bundle_dir)
        uninstall = install_excepthook(lambda: window)
        try:
            window.show()
            window.open_paths(list(files or []))
            return int(app.exec())
        finally:
            window.shutdown()
            uninstall()
    finally:
        if handler is not None:
            logging.getLogger("radiview").removeHandler(handler)
            handler.close()
