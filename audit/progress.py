"""A progress line on standard error for long scans run on a terminal."""

import sys
import time


class Progress:
    """Rewrites one line such as ``verify: 12000/200000 rows (6%)``.

    It stays silent unless ``stream`` is a terminal, so pipes, files and
    tests see no progress output. Nothing is drawn during the first
    ``delay`` seconds, so short runs print no progress at all. After that
    the line is redrawn at most every ``interval`` seconds.
    """

    def __init__(
        self,
        label,
        stream=None,
        interval=0.5,
        delay=1.0,
        enabled=None,
        clock=time.monotonic,
    ):
        self.label = label
        self.stream = stream or sys.stderr
        self.interval = interval
        self.clock = clock
        if enabled is None:
            enabled = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.enabled = enabled
        self._started = clock()
        self._not_before = self._started + delay
        self._drawn = False

    def __call__(self, done, total):
        if not self.enabled:
            return
        now = self.clock()
        if now < self._not_before:
            return
        self._not_before = now + self.interval
        if total:
            percent = min(100, done * 100 // total)
            text = f"{self.label}: {done}/{total} rows ({percent}%)"
        else:
            text = f"{self.label}: {done} rows"
        self.stream.write(f"\r{text}")
        self.stream.flush()
        self._drawn = True

    def finish(self):
        """End the progress line so later output starts on a fresh line."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
