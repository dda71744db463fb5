"""Static checks, run before anything is evaluated.

Every problem is collected into the `Diagnostics` bag: names, entity types,
regexes, types, stage rules, settings.  Logical checks (conditions that are
never true, rules shadowed by a deny) live in :mod:`guardrails.logic`, which
:mod:`guardrails.pipeline` runs after this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from guardrails import ast
from guardrails.detectors import (
    NER_ENTITIES,
    PiiConfig,
    RegexSyntaxError,
    SafeRegex,
    ner_available,
    normalize,
    supported_entities,
    validate_template,
)
from guardrails.detectors.pii import (DOMAIN_ENTITIES, MODES, AllowEntry, AllowList, PiiOptions, optional_entities,
                                      valid_domain)
from guardrails.diagnostics import Diagnostics, Span
from guardrails.resolve import Defined, SourceFile, Unit, build_scope, suggest
from guardrails.schema import EMPTY, Schema, build_schema
from guardrails.stages import ALL_ROOTS, STAGE_EFFECTS
from guardrails.typecheck import check_condition, strict_problems
from guardrails.values import MAX_CHUNKS_SETTING, WINDOW_PROBLEM, parse_window

# ---- the language's fixed vocabulary ---------------------------------------


SETTINGS: dict[str, tuple[str, tuple | None]] = {
    "on_error": ("string", ("fail_closed", "fail_open")),
    "tool_default": ("string", ("deny", "allow")),
    "max_text_length": ("number", None),
    "regex_timeout_ms": ("number", None),
    # Chunks one retrieval request may carry (values.MAX_CHUNKS by default).
    "max_chunks": ("number", None),
    # Request fields the decision log may keep (everything else is masked).
    "log_keep": ("list", None),
    # "strict": Presidio's findings with its known misses fixed (detectors/pii/strict.py).
    "pii_mode": ("string", MODES),
}
MAX_SETTING = 10**9
#: Settings with a lower ceiling than MAX_SETTING: each chunk is judged on its own.
SETTING_CEILINGS = {"max_chunks": MAX_CHUNKS_SETTING}
LOG_KEEP_ROOTS = ("text", "chunks", "tool", "args", "result", "principal", "context", "session")

OPERATORS = {"mask": (0, 1), "replace": (0, 1), "hash": (0, 0), "remove": (0, 0)}


@dataclass(frozen=True, slots=True)
class CheckConfig:
    ner_model: str | None = None
    #: `check --strict`: every tool a policy names, and every principal,
    #: context and metadata it reads, has a schema (E111).
    strict: bool = False


class _EntityRegistry:
    """Presidio's registry, loaded only when a policy names an entity type."""

    def __init__(self, config: CheckConfig):
        self.config = config
        self._known: frozenset[str] | None = None

    def known(self) -> frozenset[str]:
        """Every entity type a policy may name: the default recognizers',
        the NER entities and Presidio's optional (country) recognizers'."""
        if self._known is None:
            config = PiiConfig(ner_model=self.config.ner_model)
            self._known = supported_entities(config) | optional_entities(config)
        return self._known


def entity_hint(name: str, known: frozenset[str]) -> str | None:
    """A hint for an unknown entity type: a near miss of the whole name, a
    type of the same country sharing a word with it (``UK_NHS_NUMBER``), the
    types sharing a word (``PASSPORT``), or the country's types. Never a
    guess that only shares ``_CODE`` or ``_NUMBER``: it would mislead."""
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=2, cutoff=0.9)
    ratio = [difflib.SequenceMatcher(None, name, c).ratio() for c in close]
    if close and (len(close) == 1 or ratio[0] > ratio[1]):  # a tie is no near miss
        return f"did you mean {close[0]!r}?"
    words = {w for w in name.split("_") if w and w not in _GENERIC_WORDS}
    head = name.split("_", 1)[0]
    country = sorted(k for k in known if "_" in name and len(head) == 2 and k.startswith(head + "_"))
    pool = country or sorted(known)
    if country:
        words.discard(head)
    sharing = [k for k in pool if words & set(k.split("_")[1 if country else 0:])]
    near = difflib.get_close_matches(name, sharing if country and sharing else pool if len(sharing) < 2 else [],
                                     n=1, cutoff=0.7 if country else 0.8)
    if near:
        return f"did you mean {near[0]!r}?"
    if len(sharing) == 1:
        return f"did you mean {sharing[0]!r}?"
    if sharing:
        return f"entity types with {' or '.join(sorted(words))}: {', '.join(sharing[:12])}"
    if country:
        return f"entity types for {head}: {', '.join(country)}"
    return "the entity types are listed in docs/language.md, 'PII detection and NER models'"


# Words too common in entity names to suggest one by (`FOO_CODE` is no `IBAN_CODE`).
_GENERIC_WORDS = frozenset({"CODE", "NUMBER", "ID", "NO", "NUM"})


def is_entity_type(name: str) -> bool:
    return name.isupper() or (name.replace("_", "").isupper())


class FileChecker:
    """Checks one source file against its own scope (own + imported names)."""

    def __init__(self, f: SourceFile, scope: dict[str, Defined], registry: _EntityRegistry,
                 config: CheckConfig, diags: Diagnostics, schema: Schema = EMPTY):
        self.f = f
        self.scope = scope
        self.schema = schema
        self.registry = registry
        self.config = config
        self.diags = diags
        self.used: set[str] = set()

    # -- helpers
    def err(self, code: str, msg: str, span: Span, hint: str | None = None) -> None:
        self.diags.error(code, msg, span, hint)

    def warn(self, code: str, msg: str, span: Span, hint: str | None = None) -> None:
        self.diags.warning(code, msg, span, hint)

    def lookup(self, name: str, kind: type, what: str, span: Span) -> ast.Definition | None:
        d = self.scope.get(name)
        if d is not None and isinstance(d.node, kind):
            self.used.add(name)
            return d.node
        if name in self.f.blanked:
            return None  # its definition had a syntax error, already reported
        if d is not None:
            self.err("E301", f"{name!r} is {_article(_kind_name(d.node))}, not {_article(what)}", span)
            return None
        candidates = [n for n, dd in self.scope.items() if isinstance(dd.node, kind)]
        self.err("E102", f"unknown {what} {name!r}", span, hint=suggest(name, candidates, f"known {what}s"))
        return None

    def check_entity_type(self, name: str, span: Span) -> None:
        known = self.registry.known()
        if name not in known:
            self.err("E101", f"unknown entity type {name!r}", span, hint=entity_hint(name, known))
        elif name in NER_ENTITIES and not self.config.ner_model:
            self.err("E601", f"entity type {name!r} needs an NER model, and none is configured", span,
                     hint="configure a spaCy model (--ner-model / Engine(ner_model=...)) or drop this entity")
        elif name in NER_ENTITIES and not ner_available(PiiConfig(ner_model=self.config.ner_model)):
            self.err("E601", f"entity type {name!r} needs the NER model {self.config.ner_model!r}, "
                     "which is not installed", span,
                     hint="install the model package; models are never downloaded at run time")

    # -- whole file
    def run(self) -> None:
        p = self.f.policy
        assert p is not None
        self.check_settings(p)
        for d in p.definitions:
            self.check_definition(d)
        for a in p.allows:
            self.check_allow(a)
        seen: dict[str, ast.Rule] = {}
        for block in p.stages:
            for rule in block.rules:
                if rule.id in seen:
                    self.err("E201", f"duplicate rule id {rule.id!r} (first defined on line {seen[rule.id].span.line})",
                             rule.id_span, hint="rule ids must be unique within a policy: they name decisions")
                else:
                    seen[rule.id] = rule
                self.check_rule(block.stage, rule)
        if p.kind == "policy":
            for d in p.definitions:
                if d.name not in self.used:
                    self.warn("W101", f"{_kind_name(d)} {d.name!r} is never used", d.span)

    def check_settings(self, p: ast.Policy) -> None:
        seen: set[str] = set()
        for s in p.settings:
            spec = SETTINGS.get(s.key)
            if spec is None:
                self.err("E107", f"unknown setting {s.key!r}", s.span, hint=suggest(s.key, list(SETTINGS), "settings"))
                continue
            if s.key in seen:
                self.err("E104", f"setting {s.key!r} is set twice", s.span)
            seen.add(s.key)
            typ, choices = spec
            if typ == "list":
                if not isinstance(s.value, ast.ListLit):
                    self.err("E301", f"setting {s.key!r} takes a list of strings", s.value.span)
                    continue
                for item in s.value.items:
                    root = str(item.value).split(".")[0].split("[")[0]
                    if not isinstance(item.value, str) or root not in LOG_KEEP_ROOTS:
                        self.err("E301", f"{item.value!r} is not a request field", item.span,
                                 hint=f"fields start with one of: {', '.join(LOG_KEEP_ROOTS)}")
                continue
            if isinstance(s.value, ast.ListLit):
                self.err("E301", f"setting {s.key!r} takes a single value, not a list", s.value.span)
                continue
            value = s.value.value
            if typ == "number":
                if not _positive_whole(value):
                    self.err("E301", f"setting {s.key!r} takes a positive whole number", s.value.span)
                elif value > SETTING_CEILINGS.get(s.key, MAX_SETTING):
                    self.err("E301", f"setting {s.key!r} is too large (at most "
                             f"{SETTING_CEILINGS.get(s.key, MAX_SETTING)})", s.value.span)
            elif choices and value not in choices:
                self.err("E301", f"setting {s.key!r} must be one of {', '.join(map(repr, choices))}", s.value.span)

    def check_definition(self, d: ast.Definition) -> None:
        match d:
            case ast.EntitiesDef(entities=names):
                if not names:
                    self.warn("W302", f"entity group {d.name!r} is empty", d.span)
                for n in names:
                    self.check_entity_type(n.value, n.span)
            case ast.TopicDef(terms=terms):
                for t in terms:
                    if not (0 < t.weight <= 1):
                        self.warn("W301", f"topic weight {t.weight} is outside (0, 1]", t.span,
                                  hint="a topic's score is capped at 1.0")
                    if not t.text.strip():
                        self.err("E002", "empty topic term", t.span)
                    elif not normalize(t.text).text.strip():
                        self.warn("W303", f"topic term {t.text!r} can never match: nothing is left "
                                  "after normalisation", t.span)
            case ast.PatternDef(regex=rx):
                self.check_regex(rx)
            case ast.LimitDef(max=count, window=window):
                if not _positive_whole(count) or count > MAX_SETTING:
                    self.err("E301", f"limit {d.name!r} needs a positive whole number of slots "
                             f"(at most {MAX_SETTING})", d.span)
                if parse_window(window.value) is None:
                    self.err("E204", f"invalid window {window.value!r}: {WINDOW_PROBLEM}", window.span)
                for k in d.keys:
                    root = k
                    while isinstance(root, (ast.Attr, ast.Index)):
                        root = root.obj
                    if not isinstance(root, ast.Var) or root.name not in ALL_ROOTS:
                        self.err("E301", "a limit counts by request values, such as principal.id or "
                                 "context.tenant", k.span)
            case ast.ToolsDef(tools=items):
                if not items:
                    self.warn("W302", f"tool group {d.name!r} is empty", d.span)
                for item in items:
                    if isinstance(item, ast.Var):
                        if self.lookup(item.name, ast.ToolsDef, "tool group", item.span) is not None:
                            self.check_group_cycle(d, item)
                    elif not str(item.value).strip():
                        self.err("E002", "empty string in list", item.span)
                    elif self.config.strict and item.value not in self.schema.tools:
                        self.err("E111", f"tool {item.value!r} has no schema", item.span,
                                 hint=suggest(str(item.value), sorted(self.schema.tools), "declared tools")
                                 or 'declare it: tool NAME(arg: string, ...)')
            case ast.TermsDef(terms=items):
                if not items:
                    self.warn("W302", f"{_kind_name(d)} {d.name!r} is empty", d.span)
                for lit in items:
                    if not str(lit.value).strip():
                        self.err("E002", "empty string in list", lit.span)
                    elif isinstance(d, ast.TermsDef) and not normalize(str(lit.value)).text.strip():
                        self.warn("W303", f"term {lit.value!r} can never match: nothing is left "
                                  "after normalisation", lit.span)

    def check_group_cycle(self, group: ast.ToolsDef, ref: ast.Var) -> None:
        """E110 when the group `ref` names includes `group` again."""
        path = [group.name, ref.name]
        stack = [(ref.name, path)]
        seen = set()
        while stack:
            name, trail = stack.pop()
            d = self.scope.get(name)
            if d is None or not isinstance(d.node, ast.ToolsDef) or name in seen:
                continue
            seen.add(name)
            for item in d.node.tools:
                if isinstance(item, ast.Var):
                    if item.name == group.name:
                        self.err("E110", "tool groups include each other: " + " -> ".join([*trail, item.name]),
                                 ref.span, hint="a group may include other groups, but not itself")
                        return
                    stack.append((item.name, [*trail, item.name]))

    def check_allow(self, a: ast.AllowDecl) -> None:
        """An allow-list: its entity type or group, and each entry (E112)."""
        name = a.target.value
        self.check_entity_ref(name, a.target.span)
        d = self.scope.get(name)
        if d is not None and isinstance(d.node, ast.EntitiesDef):
            entities = {n.value for n in d.node.entities}
        else:
            entities = {name} if is_entity_type(name) else set()
        if not a.items:
            self.warn("W302", f"allow-list for {name!r} is empty", a.span)
        for item in a.items:
            if not item.value.strip():
                self.err("E002", "empty string in allow-list", item.span)
            elif item.kind == "regex":
                self.check_regex(ast.RegexLit(item.value, item.flags, item.span))
            elif item.kind == "domain" and not valid_domain(item.value.strip(".")):
                self.err("E112", f"{item.value!r} is not a domain name", item.span,
                         hint='write a host name such as "acme.test": no scheme, "@", port or path')
            elif item.kind == "domain" and entities and not entities & DOMAIN_ENTITIES:
                self.err("E112", f"a domain allows email addresses and URLs, and {name!r} holds neither",
                         item.span, hint="list the value itself, or a regex")

    def check_regex(self, rx: ast.RegexLit) -> None:
        try:
            SafeRegex.compile(rx.pattern, rx.flags)
        except RegexSyntaxError as exc:
            span = rx.span
            if exc.offset is not None:
                start = span.start + 1 + exc.offset
                span = Span(span.file, span.line, span.col + 1 + exc.offset, span.line,
                            span.col + 2 + exc.offset, start, start + 1)
            self.err("E401", f"invalid regular expression: {exc.message}", span)

    def check_rule(self, stage: str, rule: ast.Rule) -> None:
        kind = ast.effect_name(rule.effect)
        if kind not in STAGE_EFFECTS[stage]:
            self.err("E202", f"'{kind}' is not allowed in the {stage} stage", rule.effect.span,
                     hint="allow rules belong in tool_call; other stages allow by default")
        if isinstance(rule.effect, ast.Redact):
            self.check_redact(stage, rule.effect)
        if isinstance(rule.effect, ast.Label):
            for name, span in zip(rule.effect.names, rule.effect.name_spans):
                self.lookup(name, ast.LabelDef, "label", span)
        if isinstance(rule.effect, (ast.Deny, ast.Warn)) and not rule.effect.message.strip():
            self.err("E002", "the message must not be empty", rule.effect.span)
        if rule.condition is None:
            if kind in ("deny", "escalate", "warn"):
                self.warn("W201", f"rule {rule.id!r} has no condition: it fires on every request",
                          rule.id_span, hint="add `when ...`")
            elif kind == "allow":
                self.warn("W201", f"rule {rule.id!r} allows every tool call", rule.id_span,
                          hint="narrow it with `when tool == ...` or `when tool in GROUP`")
            return
        typ = check_condition(self, stage, rule, self.schema)
        if self.config.strict:
            for msg, span, hint in strict_problems(self, stage, rule, self.schema):
                self.err("E111", msg, span, hint)
        if typ not in ("bool", "any", "error"):
            self.err("E301", f"a condition must be true or false, not a {typ}", rule.condition.span)

    def check_redact(self, stage: str, eff: ast.Redact) -> None:
        t = eff.target
        if t.kind == "entities":
            for name, span in zip(t.names, t.name_spans or (t.span,) * len(t.names)):
                self.check_entity_ref(name, span)
        elif t.kind == "pattern":
            self.lookup(t.names[0], ast.PatternDef, "pattern", t.name_spans[0] if t.name_spans else t.span)
        elif t.kind == "terms":
            self.lookup(t.names[0], ast.TermsDef, "terms list", t.name_spans[0] if t.name_spans else t.span)
        if eff.min_score is not None and not (0 <= eff.min_score <= 1):
            self.err("E301", "a minimum score lies between 0 and 1", eff.span)
        op = eff.operator
        arity = OPERATORS.get(op.name)
        if arity is None:
            self.err("E203", f"unknown redaction operator {op.name!r}", op.span,
                     hint="use mask, mask(\"#\"), replace(\"<{entity}>\"), hash or remove")
            return
        if not (arity[0] <= len(op.args) <= arity[1]):
            self.err("E203", f"{op.name} takes {arity[1]} argument(s), got {len(op.args)}", op.span)
            return
        for a in op.args:
            if not isinstance(a.value, str):
                self.err("E203", f"{op.name} takes a string argument", a.span)
                return
        if op.name == "mask" and op.args and len(op.args[0].value) != 1:
            self.err("E203", "mask takes a single masking character", op.args[0].span)
        if op.name == "replace" and op.args:
            problem = validate_template(op.args[0].value)
            if problem:
                self.err("E203", problem, op.args[0].span, hint="the only placeholder is {entity}")

    def check_entity_ref(self, name: str, span: Span) -> None:
        """An entity group name or an entity type (upper case)."""
        d = self.scope.get(name)
        if d is not None and isinstance(d.node, ast.EntitiesDef):
            self.used.add(name)
            return
        if is_entity_type(name):
            self.check_entity_type(name, span)
            return
        self.lookup(name, ast.EntitiesDef, "entity group", span)


def _article(noun: str) -> str:
    return ("an " if noun[:1] in "aeiou" else "a ") + noun


def _positive_whole(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return False
    return value > 0


def _kind_name(d: ast.Definition) -> str:
    return ast.KIND_NAMES[type(d)]


def check_sources(sources: list[SourceFile], units: list[Unit], config: CheckConfig,
                  diags: Diagnostics) -> None:
    """Check each file once, in its own scope (the pipeline's `check` stage)."""
    registry = _EntityRegistry(config)
    by_file: dict[int, Unit] = {id(u.source): u for u in units}
    checked: set[int] = set()
    for f in sources:
        if f.policy is None or id(f) in checked:
            continue
        checked.add(id(f))
        unit = by_file.get(id(f))
        closure = unit.modules if unit else _module_closure(f, sources)
        scope = unit.scope if unit else build_scope(f, closure, diags)
        schema = file_schema(f, closure, diags)
        if unit is not None:
            unit.schema = schema
        FileChecker(f, scope, registry, config, diags, schema).run()


def file_schema(f: SourceFile, closure: list[SourceFile], diags: Diagnostics) -> Schema:
    """The schema `f` sees: its imports' declarations and its own. Each
    problem is reported by the file that holds it, once."""
    found = Diagnostics()
    schema = build_schema([m.policy for m in closure if m.policy] + [f.policy], found)
    diags.extend(d for d in found.items if d.span.file == f.path)
    return schema


def _module_closure(f: SourceFile, sources: list[SourceFile]) -> list[SourceFile]:
    by_name = {s.policy.name: s for s in sources if s.policy}
    out: list[SourceFile] = []
    stack = [f]
    while stack:
        cur = stack.pop()
        for imp in cur.policy.imports:
            dep = by_name.get(imp.name)
            if dep is not None and dep not in out and dep is not f:
                out.append(dep)
                stack.append(dep)
    return out


def pii_options(unit: Unit, timeout_s: float) -> PiiOptions:
    """The PII options a checked unit compiles to (here beside the checks of
    `allow` and `pii_mode`): every allow-list of the policy and its imports
    (a group's for each of its types), and the strict mode when any of them
    sets ``pii_mode = "strict"`` (the stricter value wins, as for settings)."""
    files = [*unit.modules, unit.source]
    pairs = []
    for f in files:
        for a in f.policy.allows:
            d = unit.scope.get(a.target.value)
            group = d is not None and isinstance(d.node, ast.EntitiesDef)
            types = [n.value for n in d.node.entities] if group else [a.target.value]
            pairs += [(t, AllowEntry(i.kind, i.value, i.flags)) for t in types for i in a.items]
    strict = any(s.key == "pii_mode" and s.python_value == "strict" for f in files for s in f.policy.settings)
    return PiiOptions("strict" if strict else "default", AllowList.build(pairs, timeout_s))


def check_query(expr: ast.Expr, stage: str, unit: Unit, config: CheckConfig = CheckConfig()) -> Diagnostics:
    """Check a condition written outside any policy (a ``guardrails prove``
    query) as a rule of `unit` in `stage` would be: its scope, its schema."""
    diags = Diagnostics()
    fc = FileChecker(SourceFile("<query>", "", None), unit.scope, _EntityRegistry(config), config, diags,
                     unit.schema if unit.schema is not None else EMPTY)
    typ = check_condition(fc, stage, ast.Rule("query", ast.Deny("query"), expr), fc.schema)
    if typ not in ("bool", "any", "error"):
        diags.error("E301", f"a condition must be true or false, not a {typ}", expr.span)
    return diags

