"""How wio's command line logs: plain lines, or one JSON object per line.

Loggers: ``wio.worker`` (claims, instance runs, leases lost), ``wio.steps``
(steps recorded, failed and retried), ``wio.replay`` (events that match no
node), ``wio.server`` (the HTTP API's failures). ``$WIO_LOG_LEVEL`` sets the
level; ``wio worker`` and ``wio serve`` log at INFO by default, other commands
at WARNING.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and the error, if any)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Log to stderr at ``level`` (a name such as INFO), as text or JSON lines."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    try:
        root.setLevel(level.upper())
    except ValueError:
        root.setLevel(logging.WARNING)
        logging.getLogger("wio").warning("WIO_LOG_LEVEL=%r is not a level; using WARNING", level)
