"""A per-process circuit breaker, so that a dead Redis costs one short timeout per back-off period
instead of one per request."""

import threading
import time


class CircuitBreaker:
    """Closed while calls succeed; after a failure, open for a back-off that doubles up to a cap.

    When the back-off ends, one caller is let through as a probe while the others keep treating the
    service as down; the probe's success closes the breaker.
    """

    def __init__(self, first_backoff=1.0, max_backoff=30.0, clock=time.monotonic):
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.clock = clock
        self.failures = 0
        self.open_until = 0.0
        self.lock = threading.Lock()

    @property
    def is_closed(self):
        return self.failures == 0

    def allow(self):
        """Whether the caller may try the service now."""
        if self.failures == 0:
            return True
        with self.lock:
            now = self.clock()
            if now < self.open_until:
                return False
            self.open_until = now + self.backoff()  # this caller probes; the rest wait another round
            return True

    def succeeded(self):
        if self.failures:
            with self.lock:
                self.failures = 0
                self.open_until = 0.0

    def failed(self):
        with self.lock:
            self.failures += 1
            self.open_until = self.clock() + self.backoff()

    def backoff(self):
        return min(self.max_backoff, self.first_backoff * 2 ** max(0, self.failures - 1))
