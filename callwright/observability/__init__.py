"""What the call service tells its operators: readiness, Prometheus metrics and log context."""
