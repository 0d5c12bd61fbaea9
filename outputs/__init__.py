"""What the engine produces for people: the telemetry book (live figures and the run report), the audit
log, the report files, Slack alerts and Prometheus metrics. Fed by :mod:`core.observations`."""
