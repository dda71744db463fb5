"""Structural validation of a test file, every error located at file:line:col (codes T...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from guardrails.diagnostics import Diagnostic, Diagnostics, Span
from guardrails.diagnostics import CODES as DIAGNOSTIC_CODES
from guardrails.stages import STAGES
from guardrails.testing.located import Node, Reader, compose, did_you_mean
from guardrails.testing.model import (
    OUTCOMES, STATIC, UNSET, Case, ChunkExpect, Expect, Fixed, FixedFinding, Inline, PolicyTests, StaticExpect,
)
from guardrails.values import kind_of

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

_FILE_KEYS = ("policy", "version", "source", "modules", "description", "cases")
_CASE_KEYS = ("name", "stage", "description", "source", "modules", "request", "context", "with", "expect", "todo")
_STATIC_CASE_KEYS = ("name", "description", "source", "modules", "expect", "todo")
_STATIC_EXPECT_KEYS = ("errors", "warnings", "message", "formatted")
_NO_STAGE = ("a case without `stage` checks its inline policy statically (expect: errors, warnings, message, "
             "formatted); give `stage` to run a request")
_REQUEST_KEYS = {"input": ("text",), "output": ("text",), "retrieval": ("chunks",),
                 "tool_call": ("tool", "args", "principal")}
_REQUIRED_REQUEST = {"input": "text", "output": "text", "retrieval": "chunks", "tool_call": "tool"}
_EXPECT_KEYS = ("outcome", "rules", "messages", "route", "errors")
_EXPECT_STAGE_KEYS = {"input": ("text",), "output": ("text",), "retrieval": ("chunks",), "tool_call": ("args",)}
_WITH_KEYS = ("topic", "pii", "secrets", "terms", "pattern")


class _Schema(Reader):
    """Structural checks: every error is collected, none is raised."""

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
        pnode, vnode, has_source = m.get("policy"), m.get("version"), "source" in m
        cnode = self.require(m, "cases", "a test file", root.span)
        items = self.seq(cnode, "cases") if cnode is not None else None
        if pnode is None and not has_source and not any(
                isinstance(i.value, dict) and "source" in i.value for i in items or ()):
            self.err("T102", "a test file needs 'policy'", root.span,
                     "or `source`, a policy written in the file (see guardrails/testing/__init__.py)")
        if pnode is not None and (policy := self.string(pnode, "policy")) is not None and "@" in policy:
            self.err("T104", "write the policy name alone", pnode.span, "pin a version with `version:`")
            policy = None
        if pnode is not None and has_source:
            self.err("T104", "give `policy` (a loaded policy) or `source` (one written here), not both",
                     m["source"].where)
        if vnode is not None:
            version = self.string(vnode, "version")
            if pnode is None and has_source:
                self.err("T104", "`version` pins a loaded policy", vnode.where,
                         "an inline `source` carries its own version in its header")
        inline = self.inline(m, "a test file")
        if "description" in m:
            self.typed(m["description"], (str,), "description", "a string")
        cases: list[Case] = []
        seen: dict[str, Span] = {}
        for i, item in enumerate(items or []):
            case = self.case(item, f"cases[{i}]", inline, named=pnode is not None, file_source=has_source)
            if case is None:
                continue
            if case.name in seen:
                self.err("T104", f"duplicate case name {case.name!r} (first at line {seen[case.name].line})",
                         case.span)
                continue
            seen[case.name] = case.span
            cases.append(case)
        return PolicyTests(path, text, policy, version, tuple(cases), (), pnode.span if pnode else None,
                           vnode.span if vnode else None, inline)

    def inline(self, m: dict[str, Node], what: str) -> Inline | None:
        """A `source:` (and its `modules:`) in a file or a case."""
        if "source" not in m:
            if "modules" in m:
                self.err("T104", f"`modules` in {what} goes with `source`", m["modules"].where,
                         "modules are what a policy written in the test file imports")
            return None
        source = self.string(m["source"], "source")
        modules: list[tuple[str, str]] = []
        if "modules" in m and (named := self.mapping(m["modules"], "modules")) is not None:
            for name, mn in named.items():
                text = self.string(mn, f"module {name!r}")
                if text is not None:
                    modules.append((name, text))
        return Inline(source, tuple(modules), m["source"].where) if source is not None else None

    # -- a case
    def case(self, n: Node, where: str, file_inline: Inline | None = None, *, named: bool = True,
             file_source: bool = False) -> Case | None:
        m = self.mapping(n, f"a case ({where})")
        if m is None:
            return None
        before = len(self.diags.items)
        name_node = self.require(m, "name", "a case", n.span)
        name = self.string(name_node, "name") if name_node else None
        what = f"case {name!r}" if name else f"a case ({where})"
        own_source = "source" in m
        inline = self.inline(m, what) if own_source or "modules" in m else file_inline
        if "stage" not in m and (own_source or file_source):
            return self.static_case(m, n, name, what, inline, before)
        if not (own_source or file_source or named):
            self.err("T102", f"{what} needs 'source'", n.span,
                     "the file names no `policy`: give it `policy` or `source`, or give the case its own `source`")
        stage_node = m.get("stage")
        if stage_node is None:
            self.err("T102", f"{what} needs 'stage'", n.span,
                     None if named else "or `source`, to check a policy written in the case statically")
        stage = self.string(stage_node, "stage") if stage_node else None
        if stage is not None and stage not in STAGES:
            self.err("T104", f"unknown stage {stage!r}; use {', '.join(STAGES)}", stage_node.span,
                     did_you_mean(stage, STAGES) or (_NO_STAGE if stage == STATIC else None))
            stage = None
        request_keys = _REQUEST_KEYS[stage] if stage else sum(_REQUEST_KEYS.values(), ())

        def elsewhere(key: str) -> str | None:
            owners = [s for s, ks in _REQUEST_KEYS.items() if key in ks]
            if owners and stage:
                return f"`{key}` belongs to {' and '.join(owners)} requests, not {stage}"
            return None

        self.keys(m, _CASE_KEYS + request_keys, what, elsewhere)
        request: dict[str, Any] = {}
        if "request" in m:
            # The request exactly as Engine.check takes it: for requests the
            # stage's fields cannot express (malformed ones).
            given = [k for k in (*request_keys, "context") if k in m]
            if given:
                self.err("T104", f"give `request` or the request's fields ({', '.join(given)}), not both",
                         m["request"].where)
            if self.mapping(m["request"], "request") is not None:
                request = self.json(m["request"], "request")
        elif stage is not None:
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
        return Case(name, stage, request, expect, tuple(fixed), todo, n.span, inline if own_source or file_source
                    else None)

    def static_case(self, m: dict[str, Node], n: Node, name: str | None, what: str, inline: Inline | None,
                    before: int) -> Case | None:
        """A case without a stage: its inline policy checked (errors, warnings) or formatted."""
        request_keys = {k for ks in _REQUEST_KEYS.values() for k in ks} | {"request", "context", "with"}
        self.keys(m, _STATIC_CASE_KEYS, what, lambda k: _NO_STAGE if k in request_keys else None)
        for key in ("description", "todo"):
            if key in m:
                self.string(m[key], key)
        todo = m["todo"].value if "todo" in m and isinstance(m["todo"].value, str) else None
        enode = self.require(m, "expect", what, n.span)
        expect = self.static_expect(enode) if enode is not None else None
        if len(self.diags.items) > before or name is None or expect is None or inline is None:
            return None
        return Case(name, STATIC, {}, expect, (), todo, n.span, inline)

    def static_expect(self, n: Node) -> StaticExpect | None:
        if not isinstance(n.value, dict):
            self.err("T103", f"the expect of a case without `stage` must be a mapping, not a {kind_of(n.value)}",
                     n.span, _NO_STAGE)
            return None
        m = n.value
        request_expect = {k for ks in _EXPECT_STAGE_KEYS.values() for k in ks} | set(_EXPECT_KEYS)
        self.keys(m, _STATIC_EXPECT_KEYS, "the expect of a static case",
                  lambda k: _NO_STAGE if k in request_expect else None)
        if not any(k in m for k in _STATIC_EXPECT_KEYS):
            self.err("T102", "the expect of a static case needs errors, warnings, message or formatted", n.span,
                     "errors: [[CODE, line, col], ...] for the checker; formatted: TEXT for `guardrails fmt`")
            return None
        before = len(self.diags.items)
        errors = self.located_codes(m["errors"]) if "errors" in m else None
        warnings: list[str] = []
        if "warnings" in m:
            for code, span in self.strings(m["warnings"], "expect.warnings") or ():
                if self.diagnostic_code(code, span, "expect.warnings"):
                    warnings.append(code)
        message = self.string(m["message"], "expect.message") if "message" in m else None
        formatted = None
        if "formatted" in m and self.typed(m["formatted"], (str,), "expect.formatted", "a string"):
            formatted = m["formatted"].value
        if len(self.diags.items) > before:
            return None
        if errors is None and (warnings or message is not None):
            errors = ()  # checked: the policy must have no errors
        return StaticExpect(errors, tuple(warnings), message, formatted)

    def located_codes(self, n: Node) -> tuple[tuple[str, int, int], ...] | None:
        """expect.errors of a static case: [[CODE, line, col], ...]."""
        items = self.seq(n, "expect.errors")
        if items is None:
            return None
        out = []
        for i, item in enumerate(items):
            where = f"expect.errors[{i}]"
            v = item.value
            if not (isinstance(v, list) and len(v) == 3):
                got = f"a list of {len(v)} items" if isinstance(v, list) else f"a {kind_of(v)}"
                self.err("T103", f"{where} must be [CODE, line, col], not {got}", item.span,
                         "for example [E001, 3, 30]: the code, then the line and column it points at")
                continue
            code = self.string(v[0], f"the code in {where}")
            line, col = (self.position(p, f"the {w} in {where}") for p, w in ((v[1], "line"), (v[2], "column")))
            if code is not None and self.diagnostic_code(code, v[0].span, "expect.errors", errors=True) \
                    and line is not None and col is not None:
                out.append((code, line, col))
        return tuple(out) if len(out) == len(items) else None

    def diagnostic_code(self, code: str, span: Span, what: str, *, errors: bool = False) -> bool:
        if code not in DIAGNOSTIC_CODES:
            family = [c for c in DIAGNOSTIC_CODES if c.startswith("E" if errors else "W")]
            near = code.strip().upper().replace("O", "0")  # e001, EOO1
            hint = (f"did you mean {near!r}?" if near in family else did_you_mean(code, family))
            self.err("T104", f"unknown diagnostic code {code!r} in {what}", span,
                     hint or "codes are listed in guardrails.diagnostics.CODES")
            return False
        is_warning = code.startswith("W")
        if errors and is_warning:
            self.err("T104", f"{code} is a warning code", span, "list warnings in expect.warnings")
            return False
        if not errors and not is_warning:
            self.err("T104", f"{code} is an error code", span, "list errors in expect.errors as [CODE, line, col]")
            return False
        return True

    def position(self, n: Node, what: str) -> int | None:
        if not self.typed(n, (int,), what, "a whole number"):
            return None
        if n.value < 1:
            self.err("T104", f"{what} must be 1 or more", n.span, "lines and columns count from 1")
            return None
        return n.value

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
        from guardrails.detectors import SECRET_KINDS

        out = []
        for f in findings:
            if f.entity is not None and f.entity.lower() not in SECRET_KINDS:
                self.err("T104", f"unknown secret kind {f.entity!r}", f.span,
                         did_you_mean(f.entity.lower(), SECRET_KINDS) or f"kinds: {', '.join(sorted(SECRET_KINDS))}")
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
            if key in _STATIC_EXPECT_KEYS:
                return f"`expect.{key}` is for cases without a stage (static checks of an inline policy)"
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
            self.err("T104", f"unknown outcome {v!r}; use {', '.join(OUTCOMES)}", n.span, did_you_mean(v, OUTCOMES))
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
    root = compose(text, path, diags)
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
    return PolicyTests(t.path, t.text, t.policy, t.version, t.cases, tuple(diags), t.policy_span, t.version_span,
                       t.inline)
