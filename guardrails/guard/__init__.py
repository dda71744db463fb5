"""The decorator front door: ``@guard`` for LLM calls, ``@guard_tool`` for tools.

One module per job:

- :mod:`.decorator` - ``@guard``: its arguments, and the wrapping of each kind
  of function (sync, async, generators, returned streams);
- :mod:`.call` - the checks around one ``@guard``-ed call: the prompt, the
  handlers, the answer and its tool calls;
- :mod:`.inputs` - where a call's prompt, principal, context and session
  come from (``with session("run-42"):``);
- :mod:`.tool` - ``@guard_tool``: check a tool's arguments before its body
  runs, and its result after;
- :mod:`.results` - tool results: returned values and result messages, as
  the tool_result stage reads them;
- :mod:`.once` - with a session, each event is checked (and recorded) once;
- :mod:`.steps` - the guard logic written once as steps, driven sync or async;
- :mod:`.backend` - what the guard checks with (an engine or a sidecar client),
  and the errors it raises;
- :mod:`.shapes` - the provider message shapes (OpenAI, Anthropic, plain text);
- :mod:`.pseudonymize` - reversible placeholders for redacted values;
- :mod:`.stream_guard` - :class:`StreamGuard`, the incremental output check
  shared with the sidecar's GuardStream;
- :mod:`.stream_adapter` - provider stream items in, released items out.

See docs/guard.md.
"""

from __future__ import annotations

from guardrails.guard.backend import CONTINUE, EscalationRequired, PolicyViolation
from guardrails.guard.decorator import ToolCall, guard
from guardrails.guard.inputs import current_session, session
from guardrails.guard.tool import guard_tool

__all__ = ["CONTINUE", "EscalationRequired", "PolicyViolation", "ToolCall", "current_session", "guard", "guard_tool",
           "session"]
