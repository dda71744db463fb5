"""The stages a policy's rules run in: the one definition.

Every front door, the test-file schema, the sidecar's conversion and the
decision type read this table; adding a stage starts here.
"""

from __future__ import annotations

from typing import Literal, get_args

#: A stage's name, as written in a policy block and in every API.
Stage = Literal["input", "output", "retrieval", "tool_call"]

#: Every stage, in the order the docs and the CLI list them.
STAGES: tuple[str, ...] = get_args(Stage)

#: Stages whose request is one text (``{"text": ...}``).
TEXT_STAGES: tuple[str, ...] = ("input", "output")

#: The request field a stage cannot do without.
REQUIRED_FIELD: dict[str, str] = {"input": "text", "output": "text", "retrieval": "chunks", "tool_call": "tool"}
