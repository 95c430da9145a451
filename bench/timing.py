"""Timing HTTP requests: percentiles, and a closed loop of concurrent clients."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

import httpx


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@dataclass(frozen=True)
class Load:
    """What ``clients`` clients got from ``requests`` requests: rate and latencies (ms)."""

    clients: int
    requests: int
    errors: int
    per_second: float
    p50_ms: float
    p99_ms: float


def closed_loop(
    base_url: str,
    path: str,
    *,
    clients: int,
    requests: int,
    headers: Mapping[str, str] | None = None,
    warm_up: int = 20,
) -> Load:
    """GET ``path`` ``requests`` times, split over ``clients`` threads of this process, each
    with its own connection and sending the next request as soon as the last one answered.
    Each client first sends ``warm_up`` requests that are not counted (connection, caches)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1, timeout=300)  # a client that died breaks it

    def client(share: int) -> None:
        nonlocal errors
        mine: list[float] = []
        failed = 0
        with httpx.Client(base_url=base_url, headers=dict(headers or {}), timeout=30) as http:
            for _ in range(warm_up):
                http.get(path)
            ready.wait()
            for _ in range(share):
                began = time.perf_counter()
                try:
                    ok = http.get(path).is_success
                except httpx.HTTPError:
                    ok = False
                mine.append((time.perf_counter() - began) * 1000)
                failed += not ok
        with lock:
            latencies.extend(mine)
            errors += failed

    threads = [threading.Thread(target=client, args=(requests // clients,)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    ready.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return Load(
        clients=clients,
        requests=len(latencies),
        errors=errors,
        per_second=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 0.5),
        p99_ms=percentile(latencies, 0.99),
    )
