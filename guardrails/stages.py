"""The stages a policy's rules run in: the one definition.

Every front door, the test-file schema, the sidecar's conversion and the
decision type read this table; adding a stage starts here.
"""

from __future__ import annotations

from typing import Literal, get_args

#: A stage's name, as written in a policy block and in every API.
Stage = Literal["input", "output", "retrieval", "tool_call", "tool_result"]

#: Every stage, in the order the docs and the CLI list them.
STAGES: tuple[str, ...] = get_args(Stage)

#: Stages whose request is one text (``{"text": ...}``).
TEXT_STAGES: tuple[str, ...] = ("input", "output")

#: The request field a stage cannot do without.
REQUIRED_FIELD: dict[str, str] = {"input": "text", "output": "text", "retrieval": "chunks", "tool_call": "tool",
                                  "tool_result": "result"}

#: Stages that judge what a tool did or wants to do (``tool`` names it).
TOOL_STAGES: tuple[str, ...] = ("tool_call", "tool_result")

#: The names a rule of each stage can read, and their types.
ROOTS: dict[str, dict[str, str]] = {
    "input": {"text": "string", "context": "map"},
    "output": {"text": "string", "context": "map"},
    "retrieval": {"text": "string", "metadata": "map", "context": "map"},
    "tool_call": {"tool": "string", "args": "map", "principal": "map", "context": "map"},
    # text: every string in the result, joined; result: the value itself.
    "tool_result": {"text": "string", "tool": "string", "args": "map", "result": "any", "principal": "map",
                    "context": "map"},
}
ALL_ROOTS = {name: stage for stage, roots in ROOTS.items() for name in roots}

#: The effects a rule of each stage may have.
STAGE_EFFECTS = {
    "input": {"deny", "warn", "escalate", "redact", "label"},
    "output": {"deny", "warn", "escalate", "redact", "label"},
    "retrieval": {"deny", "warn", "escalate", "redact", "label"},
    "tool_call": {"deny", "warn", "escalate", "redact", "allow", "label"},
    "tool_result": {"deny", "warn", "escalate", "redact", "label"},
}
