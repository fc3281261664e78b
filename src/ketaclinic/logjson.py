"""One JSON object per log line, for log collectors (KETACLINIC_LOG_JSON, on in production).

Only what the record says: time, level, logger, message and an exception's type. The
code logs event kinds and ids, never patient data (settings.LOGGING), and tracebacks
are left out because an exception's text can carry a value.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False)
