"""GuardStream: a streamed completion in, safe chunks out (placeholder)."""

from __future__ import annotations

import grpc


def guard_stream_handler(service):
    def behaviour(requests, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "GuardStream is not available yet")

    return behaviour
