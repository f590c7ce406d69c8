"""``wio`` run with OpenTelemetry set up, its spans written as JSON lines to ``$WIO_SPANS``.

Usage: ``python tests/harness/traced_worker.py worker --journal URL ...``. Tests read the
spans another process made, to see which trace they belong to.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from wio.cli import main


class JsonLines(SpanExporter):
    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(self.path, "a") as out:
            for span in spans:
                context = span.get_span_context()
                assert context is not None
                line = {
                    "name": span.name,
                    "trace_id": format(context.trace_id, "032x"),
                    "span_id": format(context.span_id, "016x"),
                    "parent_id": None
                    if span.parent is None
                    else format(span.parent.span_id, "016x"),
                    "attributes": dict(span.attributes or {}),
                    "pid": os.getpid(),
                }
                out.write(json.dumps(line) + "\n")
        return SpanExportResult.SUCCESS


if __name__ == "__main__":
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(JsonLines(os.environ["WIO_SPANS"])))
    trace.set_tracer_provider(provider)
    sys.exit(main(sys.argv[1:]))
