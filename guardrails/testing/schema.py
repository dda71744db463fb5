"""Structural validation of a test file, every error located at file:line:col (codes T...)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from guardrails.diagnostics import Diagnostic, Diagnostics, Span
from guardrails.diagnostics import CODES as DIAGNOSTIC_CODES
from guardrails.stages import STAGES
from guardrails.testing.located import Node, compose, did_you_mean
from guardrails.testing.model import STATIC, Case, Inline, PolicyTests, StaticExpect
from guardrails.testing.stage_schema import EXPECT_KEYS, EXPECT_STAGE_KEYS, REQUEST_KEYS, STATIC_EXPECT_KEYS
from guardrails.testing.steps import SEQUENCE_KEYS, StepReader
from guardrails.values import kind_of

CODES: dict[str, str] = {
    "T001": "invalid YAML",
    "T002": "cannot read test file",
    "T101": "unknown key",
    "T102": "missing key",
    "T103": "wrong type",
    "T104": "invalid value",
    "T201": "unknown policy or version",
    "T202": "unknown rule id, route or label",
    "T203": "detector not used by the stage",
    "T204": "the policies do not load",
}

_FILE_KEYS = ("policy", "version", "source", "modules", "description", "cases")
_CASE_KEYS = ("name", "stage", "description", "source", "modules", "request", "context", "session", "at", "with",
              "expect", "todo")
_STATIC_CASE_KEYS = ("name", "description", "source", "modules", "expect", "todo")
_NO_STAGE = ("a case without `stage` checks its inline policy statically (expect: errors, warnings, message, "
             "formatted); give `stage` to run a request")


class _Schema(StepReader):
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
        if not (own_source or file_source or named):
            self.err("T102", f"{what} needs 'source'", n.span,
                     "the file names no `policy`: give it `policy` or `source`, or give the case its own `source`")
        if "steps" in m:  # `stage`, `expect` ... beside `steps` are unknown keys, with a hint
            return self.sequence(m, n, name, what, inline if own_source or file_source else None, before)
        if "stage" not in m and (own_source or file_source):
            return self.static_case(m, n, name, what, inline, before)
        stage_node = m.get("stage")
        if stage_node is None:
            self.err("T102", f"{what} needs 'stage'", n.span,
                     "or `steps`, a sequence of requests" if named else
                     "or `source`, to check a policy written in the case statically")
        stage = self.string(stage_node, "stage") if stage_node else None
        if stage is not None and stage not in STAGES:
            self.err("T104", f"unknown stage {stage!r}; use {', '.join(STAGES)}", stage_node.span,
                     did_you_mean(stage, STAGES) or (_NO_STAGE if stage == STATIC else None))
            stage = None
        request_keys = REQUEST_KEYS[stage] if stage else sum(REQUEST_KEYS.values(), ())

        def elsewhere(key: str) -> str | None:
            owners = [s for s, ks in REQUEST_KEYS.items() if key in ks]
            if owners and stage:
                return f"`{key}` belongs to {' and '.join(owners)} requests, not {stage}"
            if key in SEQUENCE_KEYS or key == "after":
                return f"`{key}` belongs to the steps of a case with `steps`"
            return None

        self.keys(m, _CASE_KEYS + request_keys, what, elsewhere)
        request = self.request(m, stage, what, n.span)
        session = self.session(m["session"]) if "session" in m else None
        at = self.offset(m["at"], "at") if "at" in m else None
        request = self.timed(request, session, at)
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
        request_keys = {k for ks in REQUEST_KEYS.values() for k in ks} | {"request", "context", "with"}
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
        request_expect = {k for ks in EXPECT_STAGE_KEYS.values() for k in ks} | set(EXPECT_KEYS)
        self.keys(m, STATIC_EXPECT_KEYS, "the expect of a static case",
                  lambda k: _NO_STAGE if k in request_expect else None)
        if not any(k in m for k in STATIC_EXPECT_KEYS):
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
