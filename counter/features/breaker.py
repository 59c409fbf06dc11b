"""A per-process circuit breaker, so that a dead Redis costs one short timeout per back-off period
instead of one per request."""

import threading
import time


class CircuitBreaker:
    """Closed while calls succeed; after a failure, open for a back-off that doubles up to a cap.

    When the back-off ends, one caller is let through as a probe while the others keep treating the
    service as down; the probe's success closes the breaker, its failure doubles the back-off.
    Failures of calls already under way when the breaker opened change nothing.
    """

    def __init__(self, first_backoff=1.0, max_backoff=10.0, clock=time.monotonic):
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.clock = clock
        self.failures = 0
        self.open_until = 0.0
        self.probing = False
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
            if self.failures == 0 or now >= self.open_until:
                self.open_until = now + self.backoff()  # this caller probes; the rest wait another round
                self.probing = True
                return True
            return False

    def succeeded(self):
        """Record a success; returns True if this closed an open breaker."""
        if not self.failures:
            return False
        with self.lock:
            reopened = self.failures > 0
            self.failures = 0
            self.open_until = 0.0
            self.probing = False
            return reopened

    def failed(self):
        with self.lock:
            if self.failures and not self.probing:
                return
            self.failures += 1
            self.probing = False
            self.open_until = self.clock() + self.backoff()

    def backoff(self):
        return min(self.max_backoff, self.first_backoff * 2 ** max(0, self.failures - 1))
