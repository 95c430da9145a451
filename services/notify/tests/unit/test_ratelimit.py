import threading

import pytest

from notify.ratelimit import TokenBuckets


class FakeClock:
    """Monotonic time that moves only when the limiter sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


def test_a_full_bucket_lets_the_burst_through_without_waiting() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(10, burst=10, clock=clock, sleep=clock.sleep)
    waits = [buckets.acquire("sms") for _ in range(10)]
    assert waits == [0.0] * 10
    assert clock.slept == []


def test_past_the_burst_sends_wait_at_the_rate() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(10, burst=10, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(30):
        buckets.acquire("sms")
    # 10 at once, 20 more at 10 a second: two seconds.
    assert clock.now - start == pytest.approx(2.0)
    assert all(wait == pytest.approx(0.1) for wait in clock.slept)


def test_a_batch_takes_its_share_at_once() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(100, burst=100, clock=clock, sleep=clock.sleep)
    assert buckets.acquire("sms", 100) == 0.0
    assert buckets.acquire("sms", 100) == pytest.approx(1.0)
    # A batch larger than the burst is not refused: it waits for its whole share.
    assert buckets.acquire("sms", 250) == pytest.approx(2.5)


def test_idle_time_refills_up_to_the_burst_only() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(1, burst=5, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        buckets.acquire("email")
    clock.now += 3600  # an hour idle saves five, not 3,600
    waits = [buckets.acquire("email") for _ in range(6)]
    assert waits[:5] == [0.0] * 5
    assert waits[5] == pytest.approx(1.0)


def test_keys_have_their_own_buckets() -> None:
    clock = FakeClock()
    robots = TokenBuckets.per_minute(20, clock=clock, sleep=clock.sleep)
    for _ in range(20):
        assert robots.acquire("robot-a") == 0.0
    # robot-a spent its minute; robot-b has not posted yet.
    assert robots.acquire("robot-b") == 0.0
    assert robots.acquire("robot-a") == pytest.approx(3.0)  # 20 a minute: one per 3 s


def test_unlimited_never_waits() -> None:
    clock = FakeClock()
    inbox = TokenBuckets(None, clock=clock, sleep=clock.sleep)
    assert all(inbox.acquire("inbox", 1000) == 0.0 for _ in range(100))
    assert clock.slept == []


def test_concurrent_callers_share_the_rate_fairly() -> None:
    clock = FakeClock()
    buckets = TokenBuckets(50, burst=50, clock=clock, sleep=clock.sleep)
    reserved: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            wait = buckets.reserve("sms")
            with lock:
                reserved.append(wait)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 200 tokens reserved with no time passing: 50 free, then each waits its own place in line.
    assert sorted(reserved)[:50] == [0.0] * 50
    assert max(reserved) == pytest.approx(150 / 50)
    assert len({round(w, 6) for w in reserved if w > 0}) == 150


@pytest.mark.parametrize("rate", [0, -1])
def test_a_rate_must_be_positive(rate: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        TokenBuckets(rate)
