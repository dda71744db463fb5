"""Step cases: one session's requests in order, each with the decision it must get.

A step case is a timeline: every step is at a fixed offset from the case's
start (``at``, or ``after`` the previous step), so windows and limits are
tested without sleeping, and every step shares the case's session unless it
names its own. Validation is the single case's (:mod:`.stage_schema`) per
step, plus the timeline's own rules: ``at`` never goes backwards, ``after``
is a window with a unit.
"""

from __future__ import annotations

import copy
from typing import Any

from guardrails.diagnostics import Span
from guardrails.stages import STAGES, TOOL_STAGES
from guardrails.testing.located import Node, did_you_mean
from guardrails.testing.model import SEQUENCE, Case, Inline, Step
from guardrails.testing.stage_schema import REQUEST_KEYS, StageReader
from guardrails.values import WINDOW_PROBLEM, parse_window

#: What a step case holds (the requests are in `steps`).
SEQUENCE_KEYS = ("name", "description", "session", "principal", "context", "steps", "todo", "source", "modules")
#: What a step holds besides its stage's request fields.
STEP_KEYS = ("stage", "description", "request", "context", "session", "at", "after", "with", "expect")
DEFAULT_AFTER = "1s"  # a step without `at` or `after` comes this long after the one before


def default_session(name: str) -> str:
    """The session of a step case that names none: the case's own (state is
    reset between cases, so it only has to be a valid id)."""
    return ("case: " + name)[:256]


class StepReader(StageReader):
    """Reads a case whose requests are ``steps``; the file schema builds on it."""

    def sequence(self, m: dict[str, Node], n: Node, name: str | None, what: str, inline: Inline | None,
                 before: int) -> Case | None:
        def elsewhere(key: str) -> str | None:
            if key in ("stage", "expect", "with", "at", "after", "request") or any(
                    key in ks for ks in REQUEST_KEYS.values()):
                return f"in a case with `steps`, `{key}` goes in each step"
            return None

        self.keys(m, SEQUENCE_KEYS, what, elsewhere)
        session = self.session(m["session"]) if "session" in m else None
        principal = None
        if "principal" in m and self.mapping(m["principal"], "principal") is not None:
            principal = self.json(m["principal"], "principal")
        context = None
        if "context" in m and self.mapping(m["context"], "context") is not None:
            context = self.json(m["context"], "context")
        for key in ("description", "todo"):
            if key in m:
                self.string(m[key], key)
        todo = m["todo"].value if "todo" in m and isinstance(m["todo"].value, str) else None
        items = self.seq(m["steps"], "steps") or []
        if not items and isinstance(m["steps"].value, list):
            self.err("T104", f"{what} has no steps", m["steps"].where, "give at least one step")
        defaults = {"session": session if session is not None else default_session(name or ""),
                    "principal": principal, "context": context}
        steps: list[Step] = []
        clock = 0.0
        last: tuple[float, Span] | None = None
        for i, item in enumerate(items):
            step = self.step(item, i, defaults, clock, last)
            if step is not None:
                steps.append(step)
                clock = step.offset
                last = (step.offset, step.span)
        if len(self.diags.items) > before or name is None:
            return None
        return Case(name, SEQUENCE, {}, None, (), todo, n.span, inline, tuple(steps))

    def step(self, n: Node, i: int, defaults: dict[str, Any], clock: float,
             last: tuple[float, Span] | None) -> Step | None:
        where = f"steps[{i}]"
        m = self.mapping(n, f"a step ({where})")
        if m is None:
            return None
        before = len(self.diags.items)
        stage_node = self.require(m, "stage", f"a step ({where})", n.span)
        stage = self.string(stage_node, f"{where}.stage") if stage_node is not None else None
        if stage is not None and stage not in STAGES:
            self.err("T104", f"unknown stage {stage!r} in {where}; use {', '.join(STAGES)}", stage_node.span,
                     did_you_mean(stage, STAGES))
            stage = None
        keys = REQUEST_KEYS[stage] if stage else sum(REQUEST_KEYS.values(), ())

        def elsewhere(key: str) -> str | None:
            owners = [s for s, ks in REQUEST_KEYS.items() if key in ks]
            if owners and stage:
                return f"`{key}` belongs to {' and '.join(owners)} requests, not {stage}"
            if key in ("name", "todo", "steps"):
                return f"`{key}` belongs to the case, not to one of its steps"
            return None

        self.keys(m, STEP_KEYS + keys, f"a step ({where})", elsewhere)
        request = self.request(m, stage, f"a step ({where})", n.span)
        if "description" in m:
            self.string(m["description"], f"{where}.description")
        offset = self.when(m, where, clock, last)
        session = self.session(m["session"], f"{where}.session") if "session" in m else defaults["session"]
        if "request" not in m:
            for key in ("principal", "context"):
                if defaults[key] is not None and key not in request and (key == "context" or stage in TOOL_STAGES):
                    request[key] = copy.deepcopy(defaults[key])
        fixed = self.fixture(m["with"], stage) if "with" in m else ()
        enode = self.require(m, "expect", f"a step ({where})", n.span)
        expect = self.expect(enode, stage, request) if enode is not None and stage else None
        if len(self.diags.items) > before or stage is None or expect is None or offset is None:
            return None
        return Step(i, stage, self.timed(request, session, offset), expect, tuple(fixed), offset, n.span)

    def when(self, m: dict[str, Node], where: str, clock: float, last: tuple[float, Span] | None) -> float | None:
        """A step's offset from the case start: `at`, or `after` the previous step (default 1s)."""
        if "at" in m and "after" in m:
            self.err("T104", f"give {where} `at` or `after`, not both", m["after"].where,
                     "`at`: seconds since the case started; `after`: a window since the step before")
            return None
        if "at" in m:
            at = self.offset(m["at"], f"{where}.at")
            if at is not None and last is not None and at < last[0]:
                self.err("T104", f"{where}.at goes backwards: {at:g}s is before the step before it "
                         f"({last[0]:g}s, line {last[1].line})", m["at"].span,
                         "steps run in the order written; give times that never decrease")
                return None
            return at
        if "after" not in m:
            return clock + parse_window(DEFAULT_AFTER) if last is not None else 0.0
        a = m["after"]
        if isinstance(a.value, (int, float)) and not isinstance(a.value, bool):
            self.err("T103", f"{where}.after must be a window such as \"30s\" or \"2m\", not a number", a.span,
                     f'write "{a.value:g}s" for {a.value:g} seconds, or give `at`, the time since the case started')
            return None
        if not self.typed(a, (str,), f"{where}.after", 'a window such as "30s" or "2m"'):
            return None
        seconds = parse_window(a.value)
        if seconds is None:
            self.err("T104", f"{where}.after: {a.value!r} is not a window", a.span, WINDOW_PROBLEM)
            return None
        return clock + seconds
