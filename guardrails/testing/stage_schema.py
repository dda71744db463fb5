"""The per-stage part of the test-file schema, shared by single cases and
steps: a request's fields, its ``session`` and ``at``, its ``with:`` fixtures
and its ``expect``. Every error is located and collected (codes T...)."""

from __future__ import annotations

import math
from typing import Any

from guardrails.diagnostics import Span
from guardrails.testing.located import Node, Reader, did_you_mean
from guardrails.testing.model import BASE_TIME, OUTCOMES, UNSET, ChunkExpect, Expect, Fixed, FixedFinding

#: The request fields each stage's cases may give.
REQUEST_KEYS: dict[str, tuple[str, ...]] = {
    "input": ("text",), "output": ("text", "sources"), "retrieval": ("chunks",),
    "tool_call": ("tool", "args", "principal"), "tool_result": ("tool", "result", "args", "principal"),
}
#: The fields a request of each stage cannot do without.
REQUIRED_REQUEST: dict[str, tuple[str, ...]] = {
    "input": ("text",), "output": ("text",), "retrieval": ("chunks",), "tool_call": ("tool",),
    "tool_result": ("tool", "result"),
}
#: `expect` keys for every stage, and each stage's own.
EXPECT_KEYS = ("outcome", "rules", "messages", "route", "errors", "labels")
EXPECT_STAGE_KEYS: dict[str, tuple[str, ...]] = {
    "input": ("text",), "output": ("text",), "retrieval": ("chunks",), "tool_call": ("args",),
    "tool_result": ("result",),
}
WITH_KEYS = ("topic", "pii", "secrets", "terms", "pattern")
#: `expect` keys of a static case (no stage: the policy itself is checked).
STATIC_EXPECT_KEYS = ("errors", "warnings", "message", "formatted")
MAX_SESSION = 256  # the engine's own bound on a session id


class StageReader(Reader):
    """Reads what one request of one stage holds; single cases and steps build on it."""

    def request(self, m: dict[str, Node], stage: str | None, what: str, span: Span) -> dict[str, Any]:
        """The request of a case or step: ``request:`` as given, or the stage's
        fields (the required ones must be there), plus ``context``."""
        request: dict[str, Any] = {}
        keys = REQUEST_KEYS[stage] if stage else ()
        if "request" in m:
            # The request exactly as Engine.check takes it: for requests the
            # stage's fields cannot express (malformed ones).
            given = [k for k in (*keys, "context") if k in m]
            if given:
                self.err("T104", f"give `request` or the request's fields ({', '.join(given)}), not both",
                         m["request"].where)
            if self.mapping(m["request"], "request") is not None:
                request = self.json(m["request"], "request")
        elif stage is not None:
            for key in REQUIRED_REQUEST[stage]:
                self.require(m, key, what, span)
            for key in keys:
                if key in m:
                    request[key] = self.request_field(stage, key, m[key])
        if "context" in m and self.mapping(m["context"], "context") is not None:
            request["context"] = self.json(m["context"], "context")
        return request

    def session(self, n: Node, what: str = "session") -> str | None:
        s = self.string(n, what)
        if s is not None and len(s) > MAX_SESSION:
            self.err("T104", f"{what} is {len(s)} characters; a session id has at most {MAX_SESSION}", n.span)
            return None
        return s

    def offset(self, n: Node, what: str) -> float | None:
        """``at``: seconds since the case started (a number, 0 or more)."""
        if not self.typed(n, (int, float), what, "a number of seconds since the case started"):
            return None
        if not math.isfinite(n.value) or n.value < 0:
            self.err("T104", f"{what} must be 0 or more seconds since the case started, not {n.value}", n.span)
            return None
        return float(n.value)

    def timed(self, request: dict[str, Any], session: str | None, offset: float | None) -> dict[str, Any]:
        """The request with its session and time, unless it carries its own."""
        if session is not None:
            request.setdefault("session", session)
        if offset is not None:
            request.setdefault("at", BASE_TIME + offset)
        return request

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
        if key == "sources":  # what the answer rests on: strings or {text, id, metadata}
            return self.json(n, key) if self.typed(n, (list,), key, "a list of chunks") else None
        if key == "result":  # what a tool returned: a string or any JSON value
            if n.value is None:
                self.err("T104", "result must be a string or a JSON value, not null", n.span,
                         "a tool that returned nothing: give \"\"")
                return None
            return self.json(n, key)
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
        self.keys(m, WITH_KEYS, "with")
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
            owners = [s for s, ks in EXPECT_STAGE_KEYS.items() if key in ks]
            if key in STATIC_EXPECT_KEYS and key not in EXPECT_KEYS:
                return f"`expect.{key}` is for cases without a stage (static checks of an inline policy)"
            return f"`expect.{key}` is for {' and '.join(owners)} cases" if owners else None

        self.keys(m, EXPECT_KEYS + EXPECT_STAGE_KEYS[stage], "expect", elsewhere)
        on = self.require(m, "outcome", "expect", n.span)
        outcome = self.outcome(on) if on is not None else None
        fields: dict[str, Any] = {}
        for key in ("rules", "messages", "errors", "labels"):
            if key in m and (items := self.strings(m[key], f"expect.{key}")) is not None:
                fields[key] = tuple(s for s, _ in items)
                if key in ("rules", "labels"):
                    fields[key[:-1] + "_spans"] = tuple(sp for _, sp in items)
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
        if "result" in m:  # any JSON value: the forwarded result, same shape; null when denied
            fields["text"] = self.json(m["result"], "expect.result")
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

