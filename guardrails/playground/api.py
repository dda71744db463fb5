"""What the playground page asks for, as functions of JSON values: check,
evaluate, graph, run tests, diff.

Each takes the page's copy of the files (``{"files": {relpath: text}}``,
edited or not) and runs the engine's own code on them: the load pipeline for
diagnostics (the same codes and messages as ``guardrails check``),
``Engine.check`` for decisions, :mod:`guardrails.authoring.export` for the
graph, :mod:`guardrails.testing` for test files and
:mod:`guardrails.authoring.impact` for diffs. Nothing here reads or writes
the policy directory; tests run on a private temporary copy.

Bad input raises :class:`ApiError` with a message that says which field and
why; the server turns it into a 400 answer.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
import secrets
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

from guardrails.diagnostics import Diagnostics, GuardrailsError, render_all
from guardrails.playground.files import PathError, clean_relpath
from guardrails.stages import STAGES

#: The pseudo-stage of a session's steps: a list of {stage, request}.
STEPS = "steps"
#: The most steps one evaluation replays.
MAX_STEPS = 100
#: One salt per worker process, so hash() redactions agree between the two sides of a diff.
_SALT = secrets.token_bytes(32)


class ApiError(Exception):
    """A request the playground cannot answer, and why (HTTP 400)."""


def _files(payload: dict, key: str = "files") -> dict[str, str]:
    files = payload.get(key)
    if not isinstance(files, dict) or not files:
        raise ApiError(f"{key!r} must be an object mapping file paths to their text")
    out = {}
    for path, text in files.items():
        try:
            rel = clean_relpath(path)
        except PathError as exc:
            raise ApiError(f"{key}: {exc}") from None
        if not isinstance(text, str):
            raise ApiError(f"{key}[{path!r}]: the file text must be a string")
        out[rel] = text
    return out


def load(files: dict[str, str], *, coverage: bool = False) -> Any:
    """The load pipeline over the page's ``.policy`` files, as ``guardrails check`` runs it on disk."""
    from guardrails.pipeline import load_sources
    from guardrails.resolve import parse_source

    diags = Diagnostics()
    sources = [parse_source(text, path, diags) for path, text in sorted(files.items()) if path.endswith(".policy")]
    return load_sources(sources, diags=diags, coverage=coverage)


def check(payload: dict) -> dict:
    """Every diagnostic of the page's policies, as ``guardrails check --format json`` lists them,
    each with its rendering (line and caret)."""
    result = load(_files(payload))
    diags = [dict(d.to_json(), rendered=d.render(result.sources.get(d.span.file))) for d in result.diagnostics]
    errors = sum(d.is_error for d in result.diagnostics)
    return {
        "ok": errors == 0,
        "errors": errors,
        "warnings": len(result.diagnostics) - errors,
        "diagnostics": diags,
        "policies": [{"name": p.name, "version": p.version, "digest": p.digest}
                     for p in sorted(result.policies, key=lambda p: (p.name, p.version))],
    }


# ---- engines: one per distinct set of files, a few kept -----------------------------

_ENGINES: OrderedDict[str, Any] = OrderedDict()
_KEEP = 4


def engine_for(files: dict[str, str], *, cached: bool = True) -> Any:
    """An engine over the files, or ApiError carrying the rendered diagnostics.
    Kept per content, so typing a request does not recompile the policies;
    ``cached=False`` builds one of its own (a diff's two sides must not share
    one engine's session state, even when their files are the same)."""
    from guardrails.engine import Engine

    key = hashlib.sha256(json.dumps(sorted(files.items())).encode("utf-8", "surrogatepass")).hexdigest()
    if cached and key in _ENGINES:
        _ENGINES.move_to_end(key)
        return _ENGINES[key]
    result = load(files)
    if not result.ok:
        errors = [d for d in result.diagnostics if d.is_error]
        raise ApiError(f"the policies have {len(errors)} error(s); fix them first:\n"
                       + render_all(errors, result.sources))
    if not result.policies:
        raise ApiError("no policy to evaluate: only modules were found (a module is imported by policies)")
    try:
        engine = Engine(result.policies, hash_salt=_SALT, warnings=[d for d in result.diagnostics if not d.is_error])
    except GuardrailsError as exc:
        raise ApiError(str(exc)) from None
    if not cached:
        return engine
    _ENGINES[key] = engine
    while len(_ENGINES) > _KEEP:
        _ENGINES.popitem(last=False)[1].close()
    return engine


def _policy(engine: Any, name: Any) -> Any:
    from guardrails.engine import UnknownPolicyError

    try:
        return engine.get_policy(name or None)
    except UnknownPolicyError as exc:
        raise ApiError(f"policy: {exc}") from None


# ---- evaluating ----------------------------------------------------------------------


def evaluate(payload: dict) -> dict:
    """One decision (or a session's steps in order), explained, with what the page highlights."""
    engine = engine_for(_files(payload))
    policy = _policy(engine, payload.get("policy"))
    ref = f"{policy.name}@{policy.version}"
    stage = payload.get("stage")
    request = payload.get("request")
    if stage == STEPS:
        if not isinstance(request, list) or not request:
            raise ApiError("request: the steps must be a non-empty list of {\"stage\", \"request\"} objects")
        if len(request) > MAX_STEPS:
            raise ApiError(f"request: {len(request)} steps is more than {MAX_STEPS}")
        steps = []
        for i, step in enumerate(request):
            if not isinstance(step, dict) or step.get("stage") not in STAGES or not isinstance(step.get("request"), dict):
                raise ApiError(f"request[{i}]: each step needs \"stage\" (one of {', '.join(STAGES)}) "
                               "and a \"request\" object")
            steps.append((step["stage"], step["request"]))
    elif stage in STAGES:
        if not isinstance(request, dict):
            raise ApiError(f"request: a {stage} request must be a JSON object")
        steps = [(stage, request)]
    else:
        raise ApiError(f"stage must be one of {', '.join(STAGES)} or {STEPS}, not {stage!r}")
    engine.reset_state()  # each evaluation starts a fresh timeline, as a test case does
    out = []
    for st, req in steps:
        d = engine.check(st, req, policy=ref, explain=True)
        out.append(_decision_view(d, req))
    return {"policy": {"name": policy.name, "version": policy.version}, "steps": out}


def _decision_view(d: Any, request: dict) -> dict:
    view = {
        "decision": json.loads(d.model_dump_json(exclude_none=True)),
        "explain": d.explain(),
        "fired": sorted({v.rule for v in d.violations}),
        "highlights": highlights(d, request),
    }
    if d.stage in ("input", "output") and isinstance(request.get("text"), str) and isinstance(d.text, str):
        view["forward"] = {"text": d.text, "marks": changed_spans(request["text"], d.text)}
    return view


def changed_spans(before: str, after: str) -> list[list[int]]:
    """The [start, end) ranges of `after` that are not in `before`: what a redaction wrote."""
    sm = difflib.SequenceMatcher(None, before, after, autojunk=False)
    marks: list[list[int]] = []
    for tag, _i1, _i2, j1, j2 in sm.get_opcodes():
        if tag not in ("replace", "insert") or j2 <= j1:
            continue
        # A replacement may share a letter or two with what it replaced
        # ("<EMAIL_ADDRESS>" for "jo@example.com"): one mark, not several.
        if marks and j1 - marks[-1][1] <= 2:
            marks[-1][1] = j2
        else:
            marks.append([j1, j2])
    return marks


_PATH_PART = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def _resolve(request: dict, field: str | None) -> str | None:
    """The string a span's ``field`` names in the request (``text`` when none):
    ``args.note``, ``chunks[2]``, ``result.items[0].body``."""
    if field is None:
        value: Any = request.get("text")
    else:
        value = request
        for m in _PATH_PART.finditer(field):
            key, index = m.group(1), m.group(2)
            if index is not None and isinstance(value, list) and int(index) < len(value):
                value = value[int(index)]
            elif key is not None and isinstance(value, dict) and key in value:
                value = value[key]
            else:
                return None
        if isinstance(value, dict) and isinstance(value.get("text"), str):
            value = value["text"]  # a retrieval chunk {text, metadata}
    return value if isinstance(value, str) else None


def highlights(d: Any, request: dict) -> list[dict]:
    """The violations' spans grouped by the request string they lie in, with that string."""
    by_field: dict[str | None, dict] = {}
    for v in d.violations:
        for s in v.spans:
            text = _resolve(request, s.field)
            if text is None or not (0 <= s.start <= s.end <= len(text)):
                continue
            group = by_field.setdefault(s.field, {"field": s.field, "text": text, "spans": []})
            group["spans"].append({"start": s.start, "end": s.end, "entity": s.entity, "rule": v.rule,
                                   "effect": v.effect})
    return list(by_field.values())


# ---- the rule graph --------------------------------------------------------------


def graph(payload: dict) -> dict:
    """The compiled policy's rule graph as ``guardrails graph`` prints it, in both formats."""
    from guardrails.authoring.export import to_dot, to_mermaid

    policy = _policy(engine_for(_files(payload)), payload.get("policy"))
    return {"policy": {"name": policy.name, "version": policy.version},
            "mermaid": to_mermaid(policy), "dot": to_dot(policy)}


# ---- policy tests -----------------------------------------------------------------


def run_tests(payload: dict) -> dict:
    """Run one test file against the page's policies, with coverage, on a temporary copy."""
    from guardrails.testing import Runner

    files = _files(payload)
    test = payload.get("test")
    if not isinstance(test, str) or test not in files or not test.endswith((".tests.yaml", ".tests.yml")):
        raise ApiError("test: name one of the page's *.tests.yaml files")
    with tempfile.TemporaryDirectory(prefix="guardrails-playground-") as tmp:
        root = Path(tmp)
        for rel, text in files.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8", errors="surrogatepass")
        runner = Runner(roots=[root], coverage=True)
        fr = runner.run_file(root / test)
        prefix = str(root) + "/"
        out = {
            "file": test,
            "policy": fr.prepared.label,
            "errors": fr.prepared.render_errors() if fr.error else None,
            "cases": [r.to_json() for r in fr.results],
            "passed": fr.count("passed"), "failed": fr.count("failed"), "skipped": fr.count("skipped"),
            "coverage": [pc.to_json() for pc in runner.coverage_report()] if not fr.error else [],
        }
        # The copy's paths are the page's paths.
        return json.loads(json.dumps(out, ensure_ascii=False).replace(json.dumps(prefix)[1:-1], ""))


# ---- comparing two versions ---------------------------------------------------------


def parse_cases(text: Any) -> list[tuple[str, str, str | None, dict]]:
    """Pasted cases in the ``guardrails eval --batch`` format: one JSON object a line,
    ``{"stage", "policy"?, "label"?, "request"}``; blank and ``#`` lines skipped."""
    from guardrails.cli.common import UsageError, read_json

    if not isinstance(text, str):
        raise ApiError("cases must be text: JSON lines in the `guardrails eval --batch` format")
    entries = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            item = read_json(line, "cases", first_line=n)
        except UsageError as exc:
            raise ApiError(str(exc)) from None
        if not isinstance(item, dict) or item.get("stage") not in STAGES or not isinstance(item.get("request"), dict):
            raise ApiError(f"cases:{n}: each line needs \"stage\" (one of {', '.join(STAGES)}) and a \"request\" object")
        entries.append((item.get("label") or f"cases:{n} {item['stage']}", item["stage"], item.get("policy"),
                        item["request"]))
    if not entries:
        raise ApiError("cases: no requests found (one JSON object a line)")
    return entries


def diff(payload: dict) -> dict:
    """``guardrails diff`` on pasted cases: the baseline files (``old``) against the page's (``files``)."""
    from guardrails.authoring.impact import cases_from_batch, compare

    cases = cases_from_batch(parse_cases(payload.get("cases")))
    try:
        old = engine_for(_files(payload, "old"), cached=False)
    except ApiError as exc:
        raise ApiError(f"OLD (the baseline): {exc}") from None
    try:
        new = engine_for(_files(payload), cached=False)
    except ApiError as exc:
        old.close()
        raise ApiError(f"NEW (the editor): {exc}") from None
    name = payload.get("policy") or None
    try:
        report = compare(old, new, cases, policy=name if isinstance(name, str) else None)
    finally:
        old.close()
        new.close()
    return json.loads(json.dumps(report.as_dict(), ensure_ascii=False, default=str))


# ---- the language, for the highlighter ---------------------------------------------


def language() -> dict:
    """The words the grammar reserves, read from its Lark file, and the stages."""
    from guardrails.parser import grammar_path

    text = grammar_path().read_text(encoding="utf-8")
    words = sorted(set(re.findall(r'"([a-z_]+)"i?', text)))
    return {"keywords": words, "stages": list(STAGES), "steps": STEPS}


#: What the worker runs, by the name the server calls it.
OPERATIONS = {"check": check, "evaluate": evaluate, "graph": graph, "test": run_tests, "diff": diff,
              "language": lambda payload: language()}

__all__ = [
    "MAX_STEPS",
    "OPERATIONS",
    "STEPS",
    "ApiError",
    "changed_spans",
    "check",
    "diff",
    "engine_for",
    "evaluate",
    "graph",
    "highlights",
    "language",
    "load",
    "parse_cases",
    "run_tests",
]
