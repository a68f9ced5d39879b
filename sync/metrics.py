"""Prometheus metrics of one controller (a private registry: nothing else leaks into /metrics).

Names follow Argo CD / Flux: a counter of syncs by outcome, histograms of sync and plan
durations, gauges of drifted and failed objects, the last successful sync time, and the
live commit as an info metric.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest

BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        labels = ("project", "env")
        self.syncs = Counter(
            "pipeform_sync_total", "Sync cycles that did something, by outcome.", (*labels, "outcome"), registry=r
        )
        self.cycles = Counter("pipeform_sync_cycles_total", "Cycles run, idle ones included.", labels, registry=r)
        self.requests = Counter(
            "pipeform_sync_requests_total", "Requests sent to the Prefect server.", labels, registry=r
        )
        self.sync_seconds = Histogram(
            "pipeform_sync_duration_seconds",
            "Duration of a sync (plan and apply).",
            labels,
            buckets=BUCKETS,
            registry=r,
        )
        self.plan_seconds = Histogram(
            "pipeform_plan_duration_seconds", "Duration of a plan.", labels, buckets=BUCKETS, registry=r
        )
        self.drifted = Gauge("pipeform_drifted_objects", "Owned objects that differ from git.", labels, registry=r)
        self.failed = Gauge("pipeform_failed_objects", "Objects whose last change failed.", labels, registry=r)
        self.last_success = Gauge(
            "pipeform_last_successful_sync_timestamp_seconds",
            "Unix time of the last successful sync.",
            labels,
            registry=r,
        )
        self.live = Info("pipeform_live_commit", "The commit live on the server.", labels, registry=r)

    def text(self) -> bytes:
        return generate_latest(self.registry)
