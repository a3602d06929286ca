"""Health probes, Prometheus metrics and structured logs (see docs/observability.md)."""
