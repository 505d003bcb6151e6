"""Logging and tracing, set up once per process by every service's entry point.

Logs are structlog events rendered as JSON lines on stderr (console rendering on a TTY),
standard-library records (libraries' warnings) included. Every line carries the
context bound with ``structlog.contextvars`` (the edge binds ``request_id`` per request)
and, inside a recorded span, its ``trace_id`` and ``span_id``. Tracing itself is
configured from ``OTEL_*`` variables by ``tollgate.tracing`` (off unless asked for).
"""

from __future__ import annotations

import logging
import sys

import structlog
from opentelemetry import trace
from structlog.typing import EventDict, FilteringBoundLogger, Processor, WrappedLogger

from tollgate import tracing

# What every ``log`` parameter is: the logger ``setup_telemetry`` returns (structlog's
# filtering bound logger: ``info``, ``warning``, ``exception``, ``bind``... with key-value context).
Log = FilteringBoundLogger


def add_trace_ids(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: the current span's trace and span ids, when there is one."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


def setup_telemetry(service: str, level: str = "info", fmt: str = "auto") -> Log:
    """Configure structlog (JSON or console), route standard logging through it, and
    install the tracer provider when ``OTEL_*`` asks for tracing.

    Idempotent: a second call in the same process only returns a logger.
    """
    if not structlog.is_configured():
        numeric = logging.getLevelName(level.upper())
        if not isinstance(numeric, int):
            numeric = logging.INFO
        console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
        renderer = structlog.dev.ConsoleRenderer() if console else structlog.processors.JSONRenderer()
        shared: list[Processor] = [
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            add_trace_ids,
        ]
        structlog.configure(
            processors=[*shared, structlog.processors.format_exc_info, renderer],
            wrapper_class=structlog.make_filtering_bound_logger(numeric),
            logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
            cache_logger_on_first_use=True,
        )
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            structlog.stdlib.ProcessorFormatter(
                foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name, structlog.processors.format_exc_info],
                processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            )
        )
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(max(numeric, logging.WARNING))
        # Libraries log request lines at INFO; an upstream URL may carry a provider key (Gemini's ?key=).
        for noisy in ("httpx", "httpcore", "uvicorn.access"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        tracing.configure(service)
    logger: Log = structlog.get_logger(service=service)
    return logger
