"""The in-process sliding window (login attempts per client IP)."""

from __future__ import annotations

from gateway.ratelimit import SlidingWindowLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_allows_the_limit_then_refuses_with_the_wait() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(3, window=60, clock=clock)
    assert [limiter.hit("a") for _ in range(3)] == [0, 0, 0]
    clock.now += 10
    assert limiter.hit("a") == 50
    assert limiter.hit("b") == 0  # keys are independent


def test_the_window_slides() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(2, window=60, clock=clock)
    limiter.hit("a")
    clock.now += 30
    limiter.hit("a")
    clock.now += 29
    assert limiter.hit("a") > 0
    clock.now += 1.5  # the first attempt left the window
    assert limiter.hit("a") == 0
    assert limiter.hit("a") > 0


def test_refused_attempts_do_not_extend_the_wait() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(1, window=60, clock=clock)
    limiter.hit("a")
    for _ in range(100):
        clock.now += 0.5
        limiter.hit("a")
    clock.now = 1000.0 + 60.01
    assert limiter.hit("a") == 0


def test_memory_is_bounded() -> None:
    limiter = SlidingWindowLimiter(1, window=60, max_keys=100, clock=Clock())
    for i in range(1000):
        limiter.hit(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._events) == 100


def test_a_zero_limit_disables_it() -> None:
    limiter = SlidingWindowLimiter(0, clock=Clock())
    assert all(limiter.hit("a") == 0 for _ in range(1000))
