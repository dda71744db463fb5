"""Policy tests: requests, and the decisions a policy must make about them.

Policy tests live in YAML files next to the policies, named
``NAME.tests.yaml``, separate from the policy source. ``guardrails test``
runs them (with rule and branch coverage), and so does ``pytest`` through
:mod:`guardrails.pytest_plugin`. A file looks like this::

    policy: support-bot          # the policy under test (required)
    version: "1.3.0"             # optional pin: fail unless this version is loaded
    description: ...             # optional, free text
    cases:
      - name: contact details are redacted    # unique within the file
        stage: input                          # input | output | retrieval | tool_call
        text: "Mail me at jo@example.com"     # the request (see below)
        context: {user_id: "u-1"}             # optional, every stage
        with:                                 # optional: fixed detector results
          topic: {legal: 0.9}
        expect:
          outcome: redact                     # allow | redact | deny | escalate
          rules: [redact-contact]
          text: "Mail me at <EMAIL_ADDRESS>"
        todo: "reason"                        # optional: a known gap, reported as skipped

The request, by stage:

* ``input`` / ``output``: ``text``, a string, or ``{repeat: STRING, times: N}``
  for a long text made of N copies.
* ``retrieval``: ``chunks``, a list whose items are a string or
  ``{text, metadata}``.
* ``tool_call``: ``tool`` (a string), ``args`` and ``principal`` (mappings).

``expect`` is an outcome (``expect: deny``) or a mapping; every key but
``outcome`` is optional and checked only when given:

* ``outcome``: the decision's outcome.
* ``rules``: the ids of the rules in the decision (fired deny, redact,
  escalate, warn and allow rules; ``default-deny`` for a tool call no rule
  allowed), in any order. Imported rules are written ``module/rule``.
* ``messages``: the messages of those rules, in any order.
* ``route``: where an escalation goes (``null`` for none).
* ``text`` (input, output): the forwarded text, exactly; ``null`` when denied.
* ``args`` (tool_call): the forwarded, possibly redacted, arguments.
* ``chunks`` (retrieval): one entry per request chunk: the forwarded text,
  ``null`` for a dropped (denied) chunk, or ``{outcome, text}``.
* ``errors``: the codes of evaluation errors (``type-error``,
  ``missing-attribute``, ...). Without this key a case fails when the rules
  raised errors, so a deny that only happened by failing closed never passes
  unnoticed.

``with`` fixes a detector's result for the case, like OPA's ``with``: the
rules see the fixed value and the detector does not run.

* ``topic: {NAME: SCORE}``: the topic's score, in [0, 1].
* ``pii: [FINDING...]``: what the PII detector found; ``[]`` for nothing.
* ``secrets: [FINDING...]``: what the secret scanner found (``entity`` is a
  secret kind such as ``aws_access_key_id``).
* ``terms: {NAME: [FINDING...]}`` and ``pattern: {NAME: [FINDING...]}``: the
  occurrences of a term list or a named pattern.

A finding is ``{entity, match, score}`` or ``{entity, start, end, score}``:
``match`` is text that occurs in the request (its first occurrence is used),
``start``/``end`` are character offsets (end exclusive); ``score`` defaults
to 1.0; terms and patterns take no ``entity`` and may be written as a plain
string, the matched text. In retrieval cases a fixed result applies to every
chunk, so ``match`` is not available there. Only detectors that a rule of
the case's stage uses can be fixed.

Files are validated strictly before anything runs: unknown keys, wrong
types, an unknown stage, policy, version, rule id, route or detector are
errors located at ``file:line:col`` (codes ``T...``), and a file with errors
runs none of its cases. Hash redactions use the fixed key ``guardrails-test``
(:data:`TEST_HASH_SALT`) so hashed text can be written exactly.

Coverage: a rule is covered when it fired in at least one case; a branch
(each boolean node of a condition: comparisons, ``and``/``or``/``not``,
``in``, ``matches``, ``has``, detector tests) is covered when cases saw it
both true and false. Skipped cases count for neither. A tool-call rule runs
only for the tools its condition names, so a test such as ``tool in
refunds`` can never be false there: such branches are not counted.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import yaml

from ..diagnostics import Diagnostic, Diagnostics, GuardrailsError, PolicyError, Span

__all__ = [
    "TEST_SUFFIX", "TEST_HASH_SALT", "CODES", "Case", "Expect", "Fixed", "FixedFinding", "PolicyTests",
    "Mismatch", "CaseResult", "FileResult", "PolicyCoverage", "Runner", "parse_tests", "load_tests",
    "overrides_for", "bind", "compare", "format_failure", "find_test_files", "policy_coverage",
]

TEST_SUFFIX = ".tests.yaml"
TEST_HASH_SALT = b"guardrails-test"
STAGES = ("input", "output", "retrieval", "tool_call")
OUTCOMES = ("allow", "redact", "deny", "escalate")

CODES: dict[str, str] = {
    "T001": "invalid YAML",
    "T002": "cannot read test file",
    "T101": "unknown key",
    "T102": "missing key",
    "T103": "wrong type",
    "T104": "invalid value",
    "T201": "unknown policy or version",
    "T202": "unknown rule id or route",
    "T203": "detector not used by the stage",
    "T204": "the policies do not load",
}

_FILE_KEYS = ("policy", "version", "description", "cases")
_CASE_KEYS = ("name", "stage", "description", "context", "with", "expect", "todo")
_REQUEST_KEYS = {"input": ("text",), "output": ("text",), "retrieval": ("chunks",),
                 "tool_call": ("tool", "args", "principal")}
_REQUIRED_REQUEST = {"input": "text", "output": "text", "retrieval": "chunks", "tool_call": "tool"}
_EXPECT_KEYS = ("outcome", "rules", "messages", "route", "errors")
_EXPECT_STAGE_KEYS = {"input": ("text",), "output": ("text",), "retrieval": ("chunks",), "tool_call": ("args",)}
_WITH_KEYS = ("topic", "pii", "secrets", "terms", "pattern")
# Rule ids the engine itself puts in decisions.
_ENGINE_RULES = {"request": STAGES, "default-deny": ("tool_call",)}


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


# ---- the located YAML tree --------------------------------------------------


@dataclass(frozen=True, slots=True, eq=False)
class Node:
    """A YAML value and where it was written. Mappings hold ``{str: Node}``,
    sequences ``[Node]``; scalars hold the value YAML gives them."""

    value: Any
    span: Span
    key_span: Span | None = None  # the key it is the value of

    @property
    def where(self) -> Span:
        return self.key_span or self.span


def _span(start: Any, end: Any, path: str) -> Span:
    end_col = end.column + 1 if end.line == start.line else start.column + 2
    return Span(path, start.line + 1, start.column + 1, end.line + 1, max(end_col, start.column + 2),
                start.index, end.index)


def _compose(text: str, path: str, diags: Diagnostics) -> Node | None:
    """Parse YAML keeping every value's line and column (yaml.compose)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.context_mark is not None and exc.problem:
            cm = exc.context_mark
            what += f" ({exc.context} at line {cm.line + 1}, column {cm.column + 1})"
        span = _span(mark, mark, path) if mark is not None else Span(path, 1, 1, 1, 2, 0, 1)
        diags.error("T001", f"invalid YAML: {what}", span)
        return None
    except yaml.YAMLError as exc:
        diags.error("T001", f"invalid YAML: {exc}", Span(path, 1, 1, 1, 2, 0, 1))
        return None
    if root is None:
        return None
    return _Converter(path, diags).convert(root, None, 0)


class _Converter:
    MAX_NODES = 1_000_000  # aliases can multiply a small file ("billion laughs")

    def __init__(self, path: str, diags: Diagnostics):
        self.path, self.diags = path, diags
        self.ctor = yaml.SafeLoader("")  # YAML's own scalar rules (int, float, bool, null, dates)
        self.count = 0

    def scalar(self, node: Any, span: Span) -> Any:
        try:
            return self.ctor.construct_object(node, deep=True)
        except Exception as exc:  # PyYAML's constructors raise many types (`!!int abc`, `!!timestamp x`)
            what = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.diags.error("T001", f"invalid YAML value: {what}", span)
            return None

    def convert(self, node: Any, key_span: Span | None, depth: int) -> Node:
        span = _span(node.start_mark, node.end_mark, self.path)
        self.count += 1
        if depth > 64 or self.count > self.MAX_NODES:
            if self.count <= self.MAX_NODES + 1:
                self.diags.error("T104", "the document nests too deeply or is too large (check its aliases)", span)
            return Node(None, span, key_span)
        if isinstance(node, yaml.MappingNode):
            try:
                self.ctor.flatten_mapping(node)  # resolves `<<` merge keys
            except yaml.YAMLError as exc:
                self.diags.error("T001", f"invalid YAML: {getattr(exc, 'problem', None) or exc}", span)
                return Node(None, span, key_span)
            out: dict[str, Node] = {}
            for k, v in node.value:
                kspan = _span(k.start_mark, k.end_mark, self.path)
                key = self.scalar(k, kspan) if isinstance(k, yaml.ScalarNode) else None
                if not isinstance(key, str):
                    # YAML 1.1 reads `on:`, `yes:`, `1:` as non-strings.
                    self.diags.error("T103", f"keys must be strings; quote {k.value!r} if it is meant as one"
                                     if isinstance(k, yaml.ScalarNode) else "keys must be strings", kspan)
                    continue
                if key in out:
                    self.diags.error("T104", f"duplicate key {key!r}", kspan)
                    continue
                out[key] = self.convert(v, kspan, depth + 1)
            return Node(out, span, key_span)
        if isinstance(node, yaml.SequenceNode):
            return Node([self.convert(v, None, depth + 1) for v in node.value], span, key_span)
        return Node(self.scalar(node, span), span, key_span)


def _kind(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return "mapping"
    if isinstance(v, list):
        return "list"
    return type(v).__name__  # date, datetime, bytes


def _close(word: str, choices: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean {found[0]!r}?" if found else None


# ---- the schema -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FixedFinding:
    """One finding in a ``with:`` fixture; ``match`` or ``start``/``end``."""

    entity: str | None
    start: int | None
    end: int | None
    match: str | None
    score: float
    span: Span


@dataclass(frozen=True, slots=True)
class Fixed:
    """One detector result fixed by a case's ``with:``."""

    detector: str  # pii | secrets | topic | terms | pattern
    name: str | None  # the topic, term list or pattern; None for pii and secrets
    score: float | None  # topics only
    findings: tuple[FixedFinding, ...]
    span: Span


@dataclass(frozen=True, slots=True)
class ChunkExpect:
    outcome: str | None  # None: any outcome but deny (the chunk is forwarded)
    text: Any  # the forwarded text, None when dropped, UNSET to not check


@dataclass(frozen=True, slots=True)
class Expect:
    outcome: str
    rules: tuple[str, ...] | None = None
    messages: tuple[str, ...] | None = None
    route: Any = UNSET
    text: Any = UNSET  # forwarded text (input, output) or args (tool_call)
    chunks: tuple[ChunkExpect, ...] | None = None
    errors: tuple[str, ...] | None = None
    rule_spans: tuple[Span, ...] = ()
    route_span: Span | None = None


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    stage: str
    request: dict  # the JSON shape `Engine.check` takes
    expect: Expect
    fixed: tuple[Fixed, ...] = ()
    todo: str | None = None
    span: Span | None = None

    @property
    def line(self) -> int:
        return self.span.line if self.span else 0


@dataclass(frozen=True, slots=True)
class PolicyTests:
    """A parsed test file. ``diagnostics`` holds its errors; cases are
    runnable only when there are none."""

    path: str
    text: str
    policy: str | None
    version: str | None
    cases: tuple[Case, ...]
    diagnostics: tuple[Diagnostic, ...]
    policy_span: Span | None = None
    version_span: Span | None = None

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


class _Schema:
    """Structural checks: every error is collected, none is raised."""

    def __init__(self, diags: Diagnostics):
        self.diags = diags

    def err(self, code: str, message: str, span: Span, hint: str | None = None) -> None:
        self.diags.error(code, message, span, hint)

    def typed(self, n: Node, types: tuple[type, ...], what: str, want: str) -> bool:
        ok = isinstance(n.value, types) and not (isinstance(n.value, bool) and bool not in types)
        if not ok:
            hint = "quote the value to make it a string" if "string" in want and n.value is not None else None
            self.err("T103", f"{what} must be {want}, not a {_kind(n.value)}", n.span, hint)
        return ok

    def mapping(self, n: Node, what: str) -> dict[str, Node] | None:
        return n.value if self.typed(n, (dict,), what, "a mapping") else None

    def seq(self, n: Node, what: str) -> list[Node] | None:
        return n.value if self.typed(n, (list,), what, "a list") else None

    def string(self, n: Node, what: str) -> str | None:
        if not self.typed(n, (str,), what, "a string"):
            return None
        if not n.value.strip():
            self.err("T104", f"{what} must not be empty", n.span)
            return None
        return n.value

    def number(self, n: Node, what: str, lo: float, hi: float) -> float | None:
        if not self.typed(n, (int, float), what, "a number"):
            return None
        if not (math.isfinite(n.value) and lo <= n.value <= hi):
            self.err("T104", f"{what} must be between {lo:g} and {hi:g}, not {n.value}", n.span)
            return None
        return float(n.value)

    def integer(self, n: Node, what: str) -> int | None:
        if not self.typed(n, (int,), what, "a whole number"):
            return None
        if n.value < 0:
            self.err("T104", f"{what} must not be negative", n.span)
            return None
        return n.value

    def strings(self, n: Node, what: str) -> list[tuple[str, Span]] | None:
        items = self.seq(n, what)
        if items is None:
            return None
        out = [(s, i.span) for i in items if (s := self.string(i, f"each item of {what}")) is not None]
        return out if len(out) == len(items) else None

    def keys(self, m: dict[str, Node], allowed: Iterable[str], what: str,
             elsewhere: Callable[[str], str | None] = lambda k: None) -> None:
        allowed = tuple(allowed)
        for key, n in m.items():
            if key not in allowed:
                hint = elsewhere(key) or _close(key, allowed) or f"{what} takes: {', '.join(allowed)}"
                self.err("T101", f"unknown key {key!r} in {what}", n.where, hint)

    def require(self, m: dict[str, Node], key: str, what: str, span: Span) -> Node | None:
        if key not in m:
            self.err("T102", f"{what} needs {key!r}", span)
            return None
        return m[key]

    def json(self, n: Node, what: str) -> Any:
        """Plain JSON-like data (requests): reject dates and other YAML-only types."""
        v = n.value
        if isinstance(v, dict):
            return {k: self.json(c, f"{what}.{k}") for k, c in v.items()}
        if isinstance(v, list):
            return [self.json(c, f"{what}[{i}]") for i, c in enumerate(v)]
        if v is None or isinstance(v, (str, bool, int, float)):
            return v
        self.err("T103", f"{what} is a {_kind(v)}, which a JSON request cannot carry", n.span,
                 "quote the value to make it a string")
        return None

    # -- the file
    def file(self, root: Node | None, path: str, text: str) -> PolicyTests:
        empty = PolicyTests(path, text, None, None, (), ())
        if root is None:
            if not self.diags.has_errors:
                self.err("T102", "empty test file: it needs `policy` and `cases`", Span(path, 1, 1, 1, 2, 0, 1))
            return empty
        m = self.mapping(root, "a test file")
        if m is None:
            return empty
        self.keys(m, _FILE_KEYS, "a test file")
        policy = version = None
        pnode = self.require(m, "policy", "a test file", root.span)
        if pnode is not None and (policy := self.string(pnode, "policy")) is not None and "@" in policy:
            self.err("T104", "write the policy name alone", pnode.span, "pin a version with `version:`")
            policy = None
        vnode = m.get("version")
        if vnode is not None:
            version = self.string(vnode, "version")
        if "description" in m:
            self.typed(m["description"], (str,), "description", "a string")
        cases: list[Case] = []
        cnode = self.require(m, "cases", "a test file", root.span)
        items = self.seq(cnode, "cases") if cnode is not None else None
        seen: dict[str, Span] = {}
        for i, item in enumerate(items or []):
            case = self.case(item, f"cases[{i}]")
            if case is None:
                continue
            if case.name in seen:
                self.err("T104", f"duplicate case name {case.name!r} (first at line {seen[case.name].line})",
                         case.span)
                continue
            seen[case.name] = case.span
            cases.append(case)
        return PolicyTests(path, text, policy, version, tuple(cases), (), pnode.span if pnode else None,
                           vnode.span if vnode else None)

    # -- a case
    def case(self, n: Node, where: str) -> Case | None:
        m = self.mapping(n, f"a case ({where})")
        if m is None:
            return None
        before = len(self.diags.items)
        name_node = self.require(m, "name", "a case", n.span)
        name = self.string(name_node, "name") if name_node else None
        what = f"case {name!r}" if name else f"a case ({where})"
        stage_node = self.require(m, "stage", what, n.span)
        stage = self.string(stage_node, "stage") if stage_node else None
        if stage is not None and stage not in STAGES:
            self.err("T104", f"unknown stage {stage!r}; use {', '.join(STAGES)}", stage_node.span,
                     _close(stage, STAGES))
            stage = None
        request_keys = _REQUEST_KEYS[stage] if stage else sum(_REQUEST_KEYS.values(), ())

        def elsewhere(key: str) -> str | None:
            owners = [s for s, ks in _REQUEST_KEYS.items() if key in ks]
            if owners and stage:
                return f"`{key}` belongs to {' and '.join(owners)} requests, not {stage}"
            return None

        self.keys(m, _CASE_KEYS + request_keys, what, elsewhere)
        request: dict[str, Any] = {}
        if stage is not None:
            required = _REQUIRED_REQUEST[stage]
            self.require(m, required, what, n.span)
            for key in _REQUEST_KEYS[stage]:
                if key in m:
                    request[key] = self.request_field(stage, key, m[key])
        if "context" in m and self.mapping(m["context"], "context") is not None:
            request["context"] = self.json(m["context"], "context")
        for key in ("description", "todo"):
            if key in m:
                self.string(m[key], key)
        todo = m["todo"].value if "todo" in m and isinstance(m["todo"].value, str) else None
        fixed = self.fixture(m["with"], stage) if "with" in m else ()
        enode = self.require(m, "expect", what, n.span)
        expect = self.expect(enode, stage, request) if enode is not None and stage else None
        if len(self.diags.items) > before or name is None or stage is None or expect is None:
            return None
        return Case(name, stage, request, expect, tuple(fixed), todo, n.span)

    def request_field(self, stage: str, key: str, n: Node) -> Any:
        if key == "tool":
            return self.string(n, key)
        if key == "text":
            if isinstance(n.value, dict):  # {repeat, times}: long inputs without a page of YAML
                m = n.value
                self.keys(m, ("repeat", "times"), "text")
                r = self.require(m, "repeat", "a repeated text", n.span)
                t = self.require(m, "times", "a repeated text", n.span)
                unit = r.value if r is not None and self.typed(r, (str,), "text.repeat", "a string") else None
                times = self.integer(t, "text.times") if t is not None else None
                if unit is None or times is None:
                    return None
                if len(unit) * times > 10_000_000:
                    self.err("T104", "a repeated text is limited to 10,000,000 characters", n.span)
                    return None
                return unit * times
            return n.value if self.typed(n, (str,), key, "a string (or {repeat, times})") else None
        if key in ("args", "principal"):
            return self.json(n, key) if self.mapping(n, key) is not None else None
        chunks = []
        for i, item in enumerate(self.seq(n, "chunks") or []):
            if isinstance(item.value, str):
                chunks.append({"text": item.value})
                continue
            m = self.mapping(item, f"chunks[{i}]")
            if m is None:
                continue
            self.keys(m, ("text", "metadata"), f"chunks[{i}]")
            t = self.require(m, "text", f"chunks[{i}]", item.span)
            chunk: dict[str, Any] = {}
            if t is not None and self.typed(t, (str,), f"chunks[{i}].text", "a string"):
                chunk["text"] = t.value
            if "metadata" in m and self.mapping(m["metadata"], f"chunks[{i}].metadata") is not None:
                chunk["metadata"] = self.json(m["metadata"], f"chunks[{i}].metadata")
            chunks.append(chunk)
        return chunks

    # -- with:
    def fixture(self, n: Node, stage: str | None) -> list[Fixed]:
        m = self.mapping(n, "with")
        if m is None:
            return []
        self.keys(m, _WITH_KEYS, "with")
        out: list[Fixed] = []
        for det in ("pii", "secrets"):
            if det in m:
                findings = self.findings(m[det], f"with.{det}", entity=True, stage=stage)
                if findings is not None:
                    if det == "secrets":
                        findings = self.secret_kinds(findings)
                    out.append(Fixed(det, None, None, tuple(findings), m[det].where))
        if "topic" in m and (topics := self.mapping(m["topic"], "with.topic")) is not None:
            for name, sn in topics.items():
                score = self.number(sn, f"the score of topic {name!r}", 0.0, 1.0)
                if score is not None:
                    out.append(Fixed("topic", name, score, (), sn.where))
        for det in ("terms", "pattern"):
            if det in m and (named := self.mapping(m[det], f"with.{det}")) is not None:
                for name, fn in named.items():
                    findings = self.findings(fn, f"with.{det}.{name}", entity=False, stage=stage)
                    if findings is not None:
                        out.append(Fixed(det, name, None, tuple(findings), fn.where))
        return out

    def findings(self, n: Node, what: str, *, entity: bool, stage: str | None) -> list[FixedFinding] | None:
        items = self.seq(n, what)
        if items is None:
            return None
        out = []
        for i, item in enumerate(items):
            where = f"{what}[{i}]"
            if isinstance(item.value, str) and not entity:
                if stage == "retrieval":
                    self.err("T104", f"{where}: a retrieval fixture applies to every chunk; give start and end",
                             item.span)
                    continue
                out.append(FixedFinding(None, None, None, item.value, 1.0, item.span))
                continue
            m = self.mapping(item, where)
            if m is None:
                continue
            keys = ("entity", "match", "start", "end", "score") if entity else ("match", "start", "end", "score")
            self.keys(m, keys, where)
            ent = None
            if entity and (en := self.require(m, "entity", where, item.span)) is not None:
                ent = self.string(en, f"{where}.entity")
            score = self.number(m["score"], f"{where}.score", 0.0, 1.0) if "score" in m else 1.0
            match = start = end = None
            if "match" in m:
                match = self.string(m["match"], f"{where}.match")
                if "start" in m or "end" in m:
                    self.err("T104", f"{where}: give `match` or `start` and `end`, not both", item.span)
                if stage == "retrieval":
                    self.err("T104", f"{where}: a retrieval fixture applies to every chunk; give start and end",
                             m["match"].where)
            elif "start" in m or "end" in m:
                s = self.require(m, "start", where, item.span)
                e = self.require(m, "end", where, item.span)
                start = self.integer(s, f"{where}.start") if s else None
                end = self.integer(e, f"{where}.end") if e else None
                if start is not None and end is not None and end <= start:
                    self.err("T104", f"{where}: end ({end}) must be after start ({start})", e.span)
            else:
                self.err("T102", f"{where} needs `match` or `start` and `end`", item.span)
            out.append(FixedFinding(ent, start, end, match, score if score is not None else 1.0, item.span))
        return out

    def secret_kinds(self, findings: list[FixedFinding]) -> list[FixedFinding]:
        from ..detectors import SECRET_KINDS

        out = []
        for f in findings:
            if f.entity is not None and f.entity.lower() not in SECRET_KINDS:
                self.err("T104", f"unknown secret kind {f.entity!r}", f.span,
                         _close(f.entity.lower(), SECRET_KINDS) or f"kinds: {', '.join(sorted(SECRET_KINDS))}")
                continue
            out.append(FixedFinding(f.entity.upper() if f.entity else None, f.start, f.end, f.match, f.score, f.span))
        return out

    # -- expect:
    def expect(self, n: Node, stage: str, request: dict) -> Expect | None:
        if isinstance(n.value, str):
            outcome = self.outcome(n)
            return Expect(outcome) if outcome else None
        m = self.mapping(n, "expect")
        if m is None:
            return None

        def elsewhere(key: str) -> str | None:
            owners = [s for s, ks in _EXPECT_STAGE_KEYS.items() if key in ks]
            return f"`expect.{key}` is for {' and '.join(owners)} cases" if owners else None

        self.keys(m, _EXPECT_KEYS + _EXPECT_STAGE_KEYS[stage], "expect", elsewhere)
        on = self.require(m, "outcome", "expect", n.span)
        outcome = self.outcome(on) if on is not None else None
        fields: dict[str, Any] = {}
        for key in ("rules", "messages", "errors"):
            if key in m and (items := self.strings(m[key], f"expect.{key}")) is not None:
                fields[key] = tuple(s for s, _ in items)
                if key == "rules":
                    fields["rule_spans"] = tuple(sp for _, sp in items)
        if "route" in m:
            r = m["route"]
            if r.value is None or self.string(r, "expect.route") is not None:
                fields["route"], fields["route_span"] = r.value, r.span
        if "text" in m:
            t = m["text"]
            if t.value is None or self.typed(t, (str,), "expect.text", "a string (or null when denied)"):
                fields["text"] = t.value
        if "args" in m:
            a = m["args"]
            if a.value is None or self.mapping(a, "expect.args") is not None:
                fields["text"] = self.json(a, "expect.args")
        if "chunks" in m:
            fields["chunks"] = self.chunk_expects(m["chunks"], len(request.get("chunks") or []))
        if outcome is None or fields.get("chunks", ()) is None:
            return None
        return Expect(outcome, **fields)

    def outcome(self, n: Node) -> str | None:
        v = self.string(n, "the expected outcome")
        if v is not None and v not in OUTCOMES:
            self.err("T104", f"unknown outcome {v!r}; use {', '.join(OUTCOMES)}", n.span, _close(v, OUTCOMES))
            return None
        return v

    def chunk_expects(self, n: Node, count: int) -> tuple[ChunkExpect, ...] | None:
        items = self.seq(n, "expect.chunks")
        if items is None:
            return None
        if len(items) != count:
            self.err("T104", f"expect.chunks has {len(items)} entries; the request has {count} chunks", n.span,
                     "give one entry per chunk: its forwarded text, null when dropped, or {outcome, text}")
            return None
        out = []
        for i, item in enumerate(items):
            v = item.value
            if v is None:
                out.append(ChunkExpect("deny", None))
            elif isinstance(v, str):
                out.append(ChunkExpect(None, v))
            elif (m := self.mapping(item, f"expect.chunks[{i}]")) is not None:
                self.keys(m, ("outcome", "text"), f"expect.chunks[{i}]")
                oc = self.outcome(m["outcome"]) if "outcome" in m else None
                text = UNSET
                if "text" in m and (m["text"].value is None or self.typed(m["text"], (str,), "text", "a string")):
                    text = m["text"].value
                out.append(ChunkExpect(oc, text))
            else:
                return None
        return tuple(out)


def parse_tests(text: str, path: str) -> PolicyTests:
    """Parse and structurally validate the text of a test file."""
    diags = Diagnostics()
    root = _compose(text, path, diags)
    tests = _Schema(diags).file(root, path, text) if not diags.has_errors else PolicyTests(path, text, None, None,
                                                                                            (), ())
    return _with_diagnostics(tests, diags.sorted())


def load_tests(path: str | Path) -> PolicyTests:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        msg = getattr(exc, "strerror", None) or str(exc)
        diag = Diagnostic("T002", f"cannot read test file: {msg}", Span(str(p), 1, 1, 1, 2, 0, 1))
        return PolicyTests(str(p), "", None, None, (), (diag,))
    return parse_tests(text, str(p))


def _with_diagnostics(t: PolicyTests, diags: Iterable[Diagnostic]) -> PolicyTests:
    return PolicyTests(t.path, t.text, t.policy, t.version, t.cases, tuple(diags), t.policy_span, t.version_span)


# ---- binding to a compiled policy -------------------------------------------


def _subject(case: Case) -> str | None:
    """The text detectors see for a case; None for retrieval (one per chunk)."""
    if case.stage in ("input", "output"):
        return case.request.get("text")
    if case.stage == "tool_call":
        from .. import evaluate  # the engine's own order and separator, so offsets agree

        leaves: list = []
        evaluate._flatten(case.request.get("args") or {}, "args", leaves, [])
        return getattr(evaluate, "ARG_SEPARATOR", "\n").join(text for _, _, text in leaves)
    return None


def overrides_for(case: Case, graph: Any, diags: Diagnostics | None = None) -> dict[str, Any]:
    """Translate a case's ``with:`` into the engine's ``overrides`` (detector
    node id -> result) for one stage graph. Problems go to ``diags``."""
    from ..detectors import Finding, TopicResult

    diags = diags if diags is not None else Diagnostics()
    subject = _subject(case)
    nodes = graph.detectors
    stage = case.stage
    out: dict[str, Any] = {}

    def used(prefix: str) -> str:
        names = sorted(k.split(":", 1)[1] for k in nodes if k.startswith(prefix + ":"))
        return f"the {stage} stage uses: {', '.join(names)}" if names else f"the {stage} stage uses no {prefix}"

    def found(fx: Fixed, label: str | None) -> list[Finding]:
        result = []
        for f in fx.findings:
            start, end = f.start, f.end
            if f.match is not None:
                pos = subject.find(f.match) if subject is not None else -1
                if pos < 0:
                    diags.error("T104", f"{f.match!r} does not occur in the request", f.span)
                    continue
                start, end = pos, pos + len(f.match)
            elif subject is not None and end is not None and end > len(subject):
                diags.error("T104", f"end {end} is past the end of the request text ({len(subject)} characters)",
                            f.span)
                continue
            result.append(Finding(start or 0, end or 0, f.entity or label or "", f.score))
        return result

    for fx in case.fixed:
        if fx.detector == "topic":
            node = f"topic:{fx.name}"
            if node not in nodes:
                diags.error("T203", f"no rule of the {stage} stage uses topic {fx.name!r}", fx.span,
                            _close(fx.name, [k[6:] for k in nodes if k.startswith("topic:")]) or used("topic"))
                continue
            out[node] = TopicResult(fx.score, ())
        elif fx.detector in ("terms", "pattern"):
            node = f"{fx.detector}:{fx.name}"
            if node not in nodes:
                kind = "term list" if fx.detector == "terms" else "pattern"
                hint = _close(fx.name, [k.split(":", 1)[1] for k in nodes if k.startswith(fx.detector + ":")])
                diags.error("T203", f"no rule of the {stage} stage uses the {kind} {fx.name!r}", fx.span,
                            hint or used(fx.detector))
                continue
            out[node] = found(fx, fx.name.upper().replace("-", "_"))
        elif fx.detector == "pii":
            if "pii" not in nodes:
                diags.error("T203", f"no rule of the {stage} stage uses the PII detector", fx.span)
                continue
            for f in fx.findings:
                if f.entity not in graph.pii_entities:
                    diags.error("T203", f"no rule of the {stage} stage looks for {f.entity}", f.span,
                                f"it looks for: {', '.join(sorted(graph.pii_entities))}")
            out["pii"] = found(fx, None)
        else:  # secrets: every secrets node of the stage, each seeing its own kinds
            ids = [k for k in nodes if k == "secrets" or k.startswith("secrets:")]
            if not ids:
                diags.error("T203", f"no rule of the {stage} stage uses secrets()", fx.span)
                continue
            findings = found(fx, None)
            for node in ids:
                kinds = None if node == "secrets" else {k.upper() for k in node.split(":", 1)[1].split(",")}
                out[node] = [f for f in findings if kinds is None or f.entity in kinds]
    return out


@dataclass(frozen=True, slots=True)
class Bound:
    """A case ready to run: its policy reference and translated overrides."""

    case: Case
    policy: str  # name@version
    overrides: dict


def bind(tests: PolicyTests, engine: Any) -> tuple[Any, list[Bound], list[Diagnostic]]:
    """Check a test file against loaded policies: the policy, version, rule
    ids, routes and fixtures must exist. Returns (policy, bound cases, errors)."""
    from ..engine import UnknownPolicyError

    diags = Diagnostics()
    at = tests.policy_span or Span(tests.path, 1, 1, 1, 2, 0, 1)
    ref = tests.policy + (f"@{tests.version}" if tests.version else "")
    try:
        policy = engine.get_policy(ref)
    except UnknownPolicyError as exc:
        if tests.policy not in engine.policy_names():
            diags.error("T201", f"unknown policy {tests.policy!r}", at,
                        _close(tests.policy, engine.policy_names())
                        or f"policies found: {', '.join(engine.policy_names())}")
        else:
            diags.error("T201", str(exc), tests.version_span or at)
        return None, [], diags.sorted()
    bound = []
    for case in tests.cases:
        before = len(diags.items)
        graph = policy.stages[case.stage]
        rules = {r.qid for r in graph.rules} | {k for k, st in _ENGINE_RULES.items() if case.stage in st}
        for rid, span in zip(case.expect.rules or (), case.expect.rule_spans):
            if rid not in rules:
                diags.error("T202", f"{tests.policy} has no rule {rid!r} in the {case.stage} stage", span,
                            _rule_hint(rid, policy, case.stage, rules))
        routes = {r.route for r in graph.rules if r.route}
        if isinstance(case.expect.route, str) and case.expect.route not in routes:
            diags.error("T202", f"no rule of the {case.stage} stage escalates to {case.expect.route!r}",
                        case.expect.route_span or at,
                        f"routes: {', '.join(sorted(routes))}" if routes else "no rule of this stage escalates")
        overrides = overrides_for(case, graph, diags)
        if len(diags.items) == before:
            bound.append(Bound(case, f"{policy.name}@{policy.version}", overrides))
    return policy, bound, diags.sorted()


def _rule_hint(rid: str, policy: Any, stage: str, rules: set[str]) -> str | None:
    qualified = sorted(q for q in rules if q.endswith("/" + rid))
    if qualified:
        return f"imported rules keep their module's name: {qualified[0]!r}"
    for other, graph in policy.stages.items():
        if other != stage and any(r.qid == rid for r in graph.rules):
            return f"{rid!r} is a rule of the {other} stage"
    return _close(rid, rules)


# ---- running and comparing --------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mismatch:
    field: str  # outcome, rules, messages, route, text, args, chunks[i], errors
    expected: Any
    actual: Any


def compare(case: Case, decision: Any) -> list[Mismatch]:
    """What differs between a case's expectations and a decision."""
    e, d = case.expect, decision
    out: list[Mismatch] = []
    if d.outcome.value != e.outcome:
        out.append(Mismatch("outcome", e.outcome, d.outcome.value))
    for key, want, got in (("rules", e.rules, d.rule_ids), ("messages", e.messages, d.messages())):
        if want is not None and sorted(set(want)) != sorted(set(got)):
            out.append(Mismatch(key, sorted(set(want)), sorted(set(got))))
    if e.route is not UNSET and e.route != d.route:
        out.append(Mismatch("route", e.route, d.route))
    if e.text is not UNSET and not _same(e.text, d.text):
        out.append(Mismatch("args" if case.stage == "tool_call" else "text", e.text, d.text))
    for i, want in enumerate(e.chunks or ()):
        got = d.chunks[i] if d.chunks is not None and i < len(d.chunks) else None
        got_outcome = got.outcome.value if got else None
        got_text = got.text if got else None
        bad_outcome = (want.outcome is not None and want.outcome != got_outcome) or (
            want.outcome is None and got_outcome in (None, "deny"))
        if bad_outcome or (want.text is not UNSET and want.text != got_text):
            exp = {"outcome": want.outcome or "forwarded"}
            if want.text is not UNSET:
                exp["text"] = want.text
            out.append(Mismatch(f"chunks[{i}]", exp, {"outcome": got_outcome, "text": got_text}))
    got_errors = sorted({x.code for x in d.errors})
    if (e.errors is None and got_errors) or (e.errors is not None and sorted(set(e.errors)) != got_errors):
        out.append(Mismatch("errors", sorted(set(e.errors or ())),
                            [f"{x.code}: {x.rule or '-'}: {x.message}" for x in d.errors] if e.errors is None
                            else got_errors))
    return out


def _same(a: Any, b: Any) -> bool:
    """JSON equality: True is not 1."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


@dataclass(frozen=True, slots=True)
class CaseResult:
    path: str
    case: Case
    status: str  # passed | failed | skipped
    policy: str = ""  # "name version"
    mismatches: tuple[Mismatch, ...] = ()
    reason: str | None = None  # skipped: the todo; failed: an internal error
    explanation: str | None = None  # the decision, explained (failures only)

    def to_json(self) -> dict:
        return {
            "file": self.path, "line": self.case.line, "name": self.case.name, "policy": self.policy,
            "stage": self.case.stage, "status": self.status, "reason": self.reason,
            "mismatches": [{"field": m.field, "expected": m.expected, "actual": m.actual} for m in self.mismatches],
            "diff": format_failure(self) if self.status == "failed" else None,
        }


def _show(v: Any, bare: bool = False) -> str:
    if bare and isinstance(v, str):
        return v
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return "[" + ", ".join(v) + "]"
    return json.dumps(v, ensure_ascii=False, sort_keys=True)


def _diff_lines(m: Mismatch) -> list[str]:
    bare = m.field in ("outcome", "route")  # short words: no quotes, no caret
    exp, act = _show(m.expected, bare), _show(m.actual, bare)
    pad = " " * 13
    lines = [f"  {m.field + ':':<10} expected {exp}", f"{pad}got      {act}"]
    if isinstance(m.expected, str) and isinstance(m.actual, str) and not bare:
        i = next((k for k, (a, b) in enumerate(zip(m.expected, m.actual)) if a != b),
                 min(len(m.expected), len(m.actual)))
        col = len(json.dumps(m.expected[:i], ensure_ascii=False)) - 1
        lines.append(f"{pad}         {' ' * col}^ first difference at character {i}")
    elif isinstance(m.expected, list) and isinstance(m.actual, list) and m.field in ("rules", "messages"):
        missing = [x for x in m.expected if x not in m.actual]
        extra = [x for x in m.actual if x not in m.expected]
        if missing:
            lines.append(f"{pad}missing  {_show(missing)}")
        if extra:
            lines.append(f"{pad}extra    {_show(extra)}")
    elif isinstance(m.expected, dict) and isinstance(m.actual, dict) and len(exp) + len(act) > 120:
        a = json.dumps(m.expected, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
        b = json.dumps(m.actual, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
        lines = [f"  {m.field + ':':<10} (- expected, + got)"] + [
            f"{pad}{x}" for x in difflib.unified_diff(a, b, lineterm="", n=2) if not x.startswith(("---", "+++"))
        ]
    return lines


def format_failure(r: CaseResult) -> str:
    """The diff shown for a failed case, by the CLI and by pytest."""
    head = f"FAILED {r.path}:{r.case.line}: {r.case.name}  [{r.policy}, {r.case.stage}]"
    lines = [head]
    if r.reason:
        lines.append(f"  error: {r.reason}")
    for m in r.mismatches:
        lines.extend(_diff_lines(m))
    if r.explanation:
        lines.append("  decision:")
        lines.extend("    " + x for x in r.explanation.splitlines())
    return "\n".join(lines)


# ---- coverage ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BranchCoverage:
    index: int
    source: str
    seen_true: bool
    seen_false: bool

    @property
    def covered(self) -> bool:
        return self.seen_true and self.seen_false


@dataclass(frozen=True, slots=True)
class RuleCoverage:
    stage: str
    rule: str
    span: Any
    fired: bool
    branches: tuple[BranchCoverage, ...]
    always_true: int = 0  # branches the tool index makes constant; not counted


@dataclass(frozen=True, slots=True)
class PolicyCoverage:
    name: str
    version: str
    rules: tuple[RuleCoverage, ...]

    @property
    def rules_covered(self) -> int:
        return sum(r.fired for r in self.rules)

    @property
    def branches_total(self) -> int:
        return sum(len(r.branches) for r in self.rules)

    @property
    def branches_covered(self) -> int:
        return sum(b.covered for r in self.rules for b in r.branches)

    @property
    def branches_fixed(self) -> int:
        return sum(r.always_true for r in self.rules)

    @property
    def rule_percent(self) -> float:
        return _percent(self.rules_covered, len(self.rules))

    @property
    def branch_percent(self) -> float:
        return _percent(self.branches_covered, self.branches_total)

    def to_json(self) -> dict:
        def where(r: RuleCoverage) -> dict:
            s = r.span
            return {"file": s.file, "line": s.line, "col": s.col} if s is not None else {}

        return {
            "policy": self.name, "version": self.version,
            "rules": {"covered": self.rules_covered, "total": len(self.rules), "percent": self.rule_percent},
            "branches": {"covered": self.branches_covered, "total": self.branches_total,
                         "percent": self.branch_percent, "not_counted": self.branches_fixed},
            "uncovered_rules": [{"rule": r.rule, "stage": r.stage, **where(r)} for r in self.rules if not r.fired],
            "uncovered_branches": [
                {"rule": r.rule, "stage": r.stage, "index": b.index, "source": b.source,
                 "seen_true": b.seen_true, "seen_false": b.seen_false, **where(r)}
                for r in self.rules for b in r.branches if not b.covered
            ],
        }


def _percent(n: int, total: int) -> float:
    return round(100.0 * n / total, 1) if total else 100.0


def policy_coverage(policy: Any, hits: set[tuple]) -> PolicyCoverage:
    """Coverage of one compiled policy from (stage, rule, branch, bool) hits.
    Needs a coverage build (``Engine.from_path(..., coverage=True)``)."""
    rules = []
    for stage, graph in policy.stages.items():
        for r in graph.rules:
            fixed = _fixed_by_tool_index(r) if stage == "tool_call" else frozenset()
            branches = tuple(
                BranchCoverage(i, src, (stage, r.qid, i, True) in hits, (stage, r.qid, i, False) in hits)
                for i, src in enumerate(r.branches) if i not in fixed
            )
            rules.append(RuleCoverage(stage, r.qid, r.span, (stage, r.qid, -1, True) in hits, branches,
                                      len(fixed)))
    return PolicyCoverage(policy.name, policy.version, tuple(rules))


def _fixed_by_tool_index(rule: Any) -> frozenset[int]:
    """Branches that can never be false: a tool-call rule runs only for the
    tools its condition requires (the compiler's tool index), so in
    `tool in refunds and ...` the test `tool in refunds` is always true.
    Found by evaluating the condition once per indexed tool; such branches
    are left out of branch coverage rather than reported as gaps forever."""
    if rule.tools is None or rule.cond is None:
        return frozenset()
    from ..compiler import Ctx

    true_for: dict[int, int] = {}
    for tool in rule.tools:
        cov: set = set()
        ctx = Ctx("", {"tool": tool, "args": {}, "principal": {}, "context": {}}, None, None, cov)
        try:
            rule.cond(ctx)
        except Exception:  # later parts may need data the probe lacks; the tool tests ran first
            pass
        seen = {(i, v) for _, i, v in cov}
        for i in {i for i, _ in seen}:
            if (i, False) not in seen:
                true_for[i] = true_for.get(i, 0) + 1
    return frozenset(
        i for i, src in enumerate(rule.branches)
        if src.startswith(("tool in ", "tool == ")) and " and " not in src and " or " not in src
        and true_for.get(i) == len(rule.tools)
    )


# ---- the runner -------------------------------------------------------------


def find_test_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Path], list[str]]:
    """Split command-line paths into test files, extra policy roots (given
    directories and ``.policy`` files) and paths that do not exist."""
    tests: list[Path] = []
    roots: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            roots.append(p)
            # Hidden directories (.git, .venv) are not searched.
            tests.extend(sorted(q for q in p.rglob(f"*{TEST_SUFFIX}") if q.is_file()
                                and not any(part.startswith(".") for part in q.relative_to(p).parts[:-1])))
        elif p.is_file() and p.suffix == ".policy":
            roots.append(p)
        elif p.is_file():
            tests.append(p)
        else:
            missing.append(str(raw))
    seen: set[Path] = set()
    unique = [t for t in tests if not (t.resolve() in seen or seen.add(t.resolve()))]
    return unique, roots, missing


@dataclass(slots=True)
class Prepared:
    """A test file parsed and bound, with everything needed to run it."""

    tests: PolicyTests
    cases: list[Bound]
    errors: list[Diagnostic]
    sources: dict[str, str]
    engine: Any = None
    policy: Any = None

    @property
    def label(self) -> str:
        return f"{self.policy.name} {self.policy.version}" if self.policy is not None else (self.tests.policy or "?")

    def render_errors(self) -> str:
        from ..diagnostics import render_all

        return render_all(self.errors, self.sources)


@dataclass(slots=True)
class FileResult:
    prepared: Prepared
    results: list[CaseResult] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.prepared.tests.path

    @property
    def error(self) -> bool:
        return bool(self.prepared.errors)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.results)


class Runner:
    """Loads the policies for test files (once per set of directories) and
    runs their cases. ``coverage=True`` builds instrumented rule graphs and
    records which rules and branches the cases exercised."""

    def __init__(self, *, roots: Iterable[str | Path] = (), coverage: bool = False, ner_model: str | None = None):
        self.roots = [Path(r) for r in roots]
        self.coverage = coverage
        self.ner_model = ner_model
        self._engines: dict[tuple[str, ...], Any] = {}
        self.hits: dict[tuple[str, str], set[tuple]] = {}
        self.tested: set[tuple[str, str]] = set()

    def engine_for(self, test_path: str | Path) -> Any:
        """The engine for a test file: the policies under its directory and
        the runner's roots. Raises PolicyError or GuardrailsError."""
        from ..engine import Engine

        roots = [Path(test_path).parent, *self.roots]
        key = tuple(sorted({str(r.resolve()) for r in roots}))
        if key not in self._engines:
            try:
                self._engines[key] = Engine.from_path(roots, coverage=self.coverage, ner_model=self.ner_model,
                                                      hash_salt=TEST_HASH_SALT)
            except GuardrailsError as exc:
                self._engines[key] = exc
        got = self._engines[key]
        if isinstance(got, Exception):
            raise got
        return got

    def engines(self) -> list[Any]:
        return [e for e in self._engines.values() if not isinstance(e, Exception)]

    def prepare(self, path: str | Path) -> Prepared:
        tests = load_tests(path)
        sources = {tests.path: tests.text}
        errors = [d for d in tests.diagnostics if d.is_error]
        if tests.policy is None:
            return Prepared(tests, [], errors, sources)
        # Bind even when some cases are malformed, so one run shows every error.
        try:
            engine = self.engine_for(path)
        except PolicyError as exc:
            errs = [d for d in exc.diagnostics if d.is_error]
            sources.update(exc.sources)
            head = Diagnostic("T204", f"the policies for this file do not load ({len(errs)} error(s))",
                              tests.policy_span or Span(tests.path, 1, 1, 1, 2, 0, 1))
            return Prepared(tests, [], [*errors, head, *errs], sources)
        except GuardrailsError as exc:
            head = Diagnostic("T204", f"the policies for this file do not load: {exc}",
                              tests.policy_span or Span(tests.path, 1, 1, 1, 2, 0, 1))
            return Prepared(tests, [], [*errors, head], sources)
        policy, bound, errs = bind(tests, engine)
        errors = sorted([*errors, *errs], key=Diagnostic.sort_key)
        return Prepared(tests, [] if errors else bound, errors, sources, engine, policy)

    def run_case(self, prepared: Prepared, bound: Bound) -> CaseResult:
        case = bound.case
        label = prepared.label
        cov: set | None = set() if self.coverage else None
        try:
            d = prepared.engine.check(case.stage, case.request, policy=bound.policy,
                                      overrides=bound.overrides or None, coverage=cov)
        except Exception as exc:  # report, never crash the run: the other cases still count
            return CaseResult(prepared.tests.path, case, "failed", label,
                              reason=f"the engine raised {type(exc).__name__}: {exc}")
        mismatches = tuple(compare(case, d))
        if case.todo is not None:
            note = "" if mismatches else " (it passes now: remove `todo`)"
            return CaseResult(prepared.tests.path, case, "skipped", label, reason=f"todo: {case.todo}{note}")
        if cov is not None:
            key = (prepared.policy.name, prepared.policy.version)
            self.hits.setdefault(key, set()).update((case.stage, *hit) for hit in cov)
            self.tested.add(key)
        if mismatches:
            return CaseResult(prepared.tests.path, case, "failed", label, mismatches, explanation=d.explain())
        return CaseResult(prepared.tests.path, case, "passed", label)

    def run_file(self, path: str | Path, select: str | None = None) -> FileResult:
        prepared = self.prepare(path)
        out = FileResult(prepared)
        for bound in prepared.cases:
            if select is None or select.lower() in bound.case.name.lower():
                out.results.append(self.run_case(prepared, bound))
        return out

    def coverage_report(self) -> list[PolicyCoverage]:
        """Every tested policy version, and the newest version of every loaded
        policy (untested ones report 0%)."""
        seen: dict[tuple[str, str], Any] = {}
        for engine in self.engines():
            for p in engine.policies:
                if (p.name, p.version) in self.tested or engine.get_policy(p.name) is p:
                    seen.setdefault((p.name, p.version), p)
        return [policy_coverage(p, self.hits.get(k, set())) for k, p in sorted(seen.items())]
