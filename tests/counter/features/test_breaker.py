from counter.features.breaker import CircuitBreaker


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_a_closed_breaker_lets_every_call_through():
    breaker = CircuitBreaker(clock=Clock())
    assert all(breaker.allow() for _ in range(10))


def test_after_a_failure_calls_wait_for_the_backoff():
    clock = Clock()
    breaker = CircuitBreaker(first_backoff=1.0, clock=clock)
    breaker.failed()
    assert not breaker.allow()
    clock.now += 0.99
    assert not breaker.allow()


def test_when_the_backoff_ends_exactly_one_caller_probes():
    clock = Clock()
    breaker = CircuitBreaker(first_backoff=1.0, clock=clock)
    breaker.failed()
    clock.now += 1.0
    assert [breaker.allow() for _ in range(5)] == [True, False, False, False, False]


def test_a_successful_probe_closes_the_breaker():
    clock = Clock()
    breaker = CircuitBreaker(first_backoff=1.0, clock=clock)
    breaker.failed()
    clock.now += 1.0
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.is_closed
    assert all(breaker.allow() for _ in range(3))


def test_backoff_doubles_with_each_failed_probe_up_to_the_cap():
    clock = Clock()
    breaker = CircuitBreaker(first_backoff=1.0, max_backoff=5.0, clock=clock)
    backoffs = []
    for _ in range(5):
        clock.now += 100
        breaker.allow()
        breaker.failed()
        backoffs.append(breaker.backoff())
    assert backoffs == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_calls_that_fail_together_open_the_breaker_once():
    clock = Clock()
    breaker = CircuitBreaker(first_backoff=1.0, clock=clock)
    for _ in range(8):
        breaker.failed()  # eight requests were already waiting on the dead service
    assert breaker.backoff() == 1.0
    clock.now += 1.0
    assert breaker.allow()


def test_only_a_failed_probe_lengthens_the_backoff():
    clock = Clock()
    breaker = CircuitBreaker(first_backoff=1.0, clock=clock)
    breaker.failed()
    clock.now += 1.0
    assert breaker.allow()
    breaker.failed()
    assert breaker.backoff() == 2.0
    clock.now += 1.9
    assert not breaker.allow()
    clock.now += 0.1
    assert breaker.allow()
