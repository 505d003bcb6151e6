"""Logging and tracing, set up once per process by every service's entry point."""

from __future__ import annotations

import logging
import sys

import structlog
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


def setup_telemetry(service: str, level: str = "info", fmt: str = "auto") -> structlog.stdlib.BoundLogger:
    """Configure structlog (JSON or console) and an OpenTelemetry tracer provider.

    Idempotent: a second call in the same process only returns a logger.
    """
    if not structlog.is_configured():
        numeric = logging.getLevelName(level.upper())
        if not isinstance(numeric, int):
            numeric = logging.INFO
        console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
        renderer = structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.format_exc_info,
                renderer,
            ],
            wrapper_class=structlog.make_filtering_bound_logger(numeric),
            logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
            cache_logger_on_first_use=True,
        )
        logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
        # Libraries log request lines at INFO; an upstream URL may carry a provider key (Gemini's ?key=).
        for noisy in ("httpx", "httpcore", "uvicorn.access"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": f"tollgate-{service}"})))
    return structlog.get_logger(service=service)
