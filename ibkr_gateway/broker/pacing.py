"""Request pacing: a minimum interval between request starts, shared by threads.

``RequestPacer.wait()`` blocks until the next request may start, so that no
more than ``rate`` requests per second leave the process through one backend.
The clock and sleep functions are injectable, so tests run without waiting.
"""

import threading
import time


class RequestPacer:
    """Spaces request starts at least ``1 / rate`` seconds apart."""

    def __init__(self, rate, clock=time.monotonic, sleep=time.sleep):
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate!r}")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._next_start = None
        # Holding the lock while sleeping queues concurrent callers in order,
        # which is the point of pacing.
        self._lock = threading.Lock()

    def wait(self):
        """Block until the next request may start and return the seconds slept."""
        with self._lock:
            now = self._clock()
            delay = 0.0
            if self._next_start is not None and now < self._next_start:
                delay = self._next_start - now
                self._sleep(delay)
                now = max(self._clock(), self._next_start)
            self._next_start = now + self.interval
            return delay
