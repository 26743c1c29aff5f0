"""The exit codes of every ``radiview`` command, defined once."""

EXIT_OK = 0  # every film read (or refused by the input gate)
EXIT_FAILED = 1  # a film could not be read, a screen found no film, a self-test failed
EXIT_USAGE = 2  # bad arguments, an unusable model bundle, report or configuration
EXIT_INTERRUPTED = 130  # Ctrl+C / SIGINT


class UsageError(Exception):
    """Bad arguments, a missing folder, an unusable model bundle or report: ``main`` prints
    ``radiview: error: <message>`` and exits with EXIT_USAGE."""
