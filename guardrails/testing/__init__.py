"""Policy tests: requests, and the decisions a policy must make about them.

Policy tests live in YAML files next to the policies, named
``NAME.tests.yaml``, separate from the policy source. ``guardrails test``
runs them (with rule and branch coverage), and so does ``pytest`` through
:mod:`guardrails.testing.pytest_plugin`. A file looks like this::

    policy: support-bot          # the policy under test (or `source`, below)
    version: "1.3.0"             # optional pin: fail unless this version is loaded
    description: ...             # optional, free text
    cases:
      - name: contact details are redacted    # unique within the file
        stage: input                          # input | output | retrieval | tool_call | tool_result
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
* ``tool_result``: ``tool`` (a string), ``result`` (what the tool returned:
  a string or any JSON value), ``args`` and ``principal`` (mappings).

Any request case may also give ``session`` (the session id, a string of at
most 256 characters; without it the request names none) and ``at`` (seconds
after :data:`~guardrails.testing.model.BASE_TIME`, a fixed unix time; without
it the engine uses the clock).

``expect`` is an outcome (``expect: deny``) or a mapping; every key but
``outcome`` is optional and checked only when given:

* ``outcome``: the decision's outcome.
* ``rules``: the ids of the rules in the decision (fired deny, redact,
  escalate, warn and allow rules; ``default-deny`` for a tool call no rule
  allowed), in any order. Imported rules are written ``module/rule``.
* ``messages``: the messages of those rules, in any order.
* ``route``: where an escalation goes (``null`` for none).
* ``labels``: the labels the decision attached (its own step's, not the
  session's), in any order; ``[]`` for none. Each must be attached by some
  rule of the case's stage.
* ``text`` (input, output): the forwarded text, exactly; ``null`` when denied.
* ``args`` (tool_call): the forwarded, possibly redacted, arguments.
* ``result`` (tool_result): the forwarded result, exactly, in its own shape
  (redacted strings in place); ``null`` when denied.
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

Step cases: an agent run, tested as data. A case with ``steps:`` instead of
one request sends a session's requests in order, each with the decision it
must get; session rules (labels, history, data flow, limits) are tested this
way::

    - name: web content then an outside email is refused
      session: run-1            # optional; default: an id of the case's own
      principal: {id: u1}       # optional; default for every tool step's principal
      context: {tenant: acme}   # optional; default for every step's context
      steps:
        - {stage: tool_call, tool: web_fetch, args: {url: "https://x"}, expect: allow}
        - {stage: tool_result, tool: web_fetch, result: "...",
           expect: {outcome: allow, labels: [untrusted]}}
        - {stage: tool_call, tool: send_email, args: {to: "a@ext.com"}, after: "30s", expect: deny}
        - {stage: tool_call, tool: send_email, args: {to: "a@ext.com"}, at: 700, expect: allow}

A step is a request case without ``name``: its ``stage``, the stage's
fields (or ``request:``), optional ``context``, ``session`` (another session
than the case's), ``with`` and ``expect`` (the same keys as a single case).
Its time is ``at`` (seconds since the case started, never less than the step
before) or ``after`` (a window such as ``"30s"`` or ``"2m"`` since the step
before); the first step is at 0 and each later one ``after: "1s"`` unless it
says otherwise. Times are :data:`~guardrails.testing.model.BASE_TIME` plus
these offsets, so windows and limits are tested without sleeping. A step
with ``request:`` gets the case's session and time (unless the request gives
its own) but not its principal or context.

Every request case runs on fresh session state (``Engine.reset_state()``):
no case sees another's sessions or limit counts. A step case stops at its
first step that does not get the expected decision, and the failure names
that step (``steps[2]``) and its line. ``todo`` and coverage apply to step
cases as to single ones: every step's rules and branches count.

A policy written in the test file (how the project's own language tests in
``tests/cases/`` are written): instead of ``policy``, the file gives
``source`` (policy source text) and optionally ``modules`` (``{NAME: source}``,
the modules it imports); a case may carry its own ``source``/``modules``,
which replace the file's for that case. Requests run against that policy
like any other (hash key, fixtures and rule ids alike); inline policies take
no part in coverage, and one that does not load is a ``T204`` error at its
``source``. Any request case may also give ``request:``, the request mapping
exactly as ``Engine.check`` takes it, instead of the stage's fields (for
malformed requests, say)::

    source: |
      policy "t" version "1.0.0"
      input { rule no-x: deny "x" when text contains "x" }
    cases:
      - {name: x is refused, stage: input, text: "x", expect: deny}
      - {name: text must be a string, stage: input, request: {text: 42},
         expect: {outcome: deny, errors: [invalid-request]}}

A case with an inline policy and no ``stage`` is *static*: nothing is
evaluated, the policy itself is checked or formatted. Its ``expect`` is a
mapping with at least one of:

* ``errors``: every error diagnostic, exactly, each ``[CODE, line, col]``
  (positions inside ``source``, from 1); ``[]`` for none.
* ``warnings``: warning codes that must be among the diagnostics.
* ``message``: text the rendered diagnostics must contain.
* ``formatted``: what ``guardrails fmt`` makes of ``source``, exactly
  (formatting it again must change nothing).

When ``warnings`` or ``message`` is given without ``errors``, the policy must
have no errors. Codes are checked against :data:`guardrails.diagnostics.CODES`
(an unknown code, a warning listed as an error and a line or column of 0 are
located errors). Static checks run without an NER model.

Files are validated strictly before anything runs: unknown keys, wrong
types, an unknown stage, policy, version, rule id, route or detector are
errors located at ``file:line:col`` (codes ``T...``), and a file with errors
runs none of its cases. Hash redactions use the fixed key ``guardrails-test``
(:data:`TEST_HASH_SALT`) so hashed text can be written exactly.

Coverage: a rule is covered when it fired in at least one case or step; a branch
(each boolean node of a condition: comparisons, ``and``/``or``/``not``,
``in``, ``matches``, ``has``, detector tests) is covered when cases saw it
both true and false. Skipped cases count for neither. A tool-call rule runs
only for the tools its condition names, so a test such as ``tool in
refunds`` can never be false there: such branches are not counted.

The modules, in the order a test file goes through them: :mod:`.located`
(YAML that keeps positions, and typed reads of it), :mod:`.schema` (validation into the
:mod:`.model` dataclasses; a request and its ``expect`` by stage in :mod:`.stage_schema`,
step cases in :mod:`.steps`), :mod:`.binding` (checked against the loaded
policies; ``with:`` -> engine overrides), :mod:`.runner` (runs the cases),
:mod:`.results` (mismatches and diffs, and static cases' checks) and
:mod:`.coverage`.
"""

from __future__ import annotations

from guardrails.stages import STAGES  # noqa: F401  (every public name stays importable from here)
from guardrails.testing.binding import Bound, bind, bind_case, overrides_for  # noqa: F401
from guardrails.testing.coverage import BranchCoverage, PolicyCoverage, RuleCoverage, policy_coverage  # noqa: F401
from guardrails.testing.located import Node  # noqa: F401
from guardrails.testing.model import (  # noqa: F401
    BASE_TIME, OUTCOMES, SEQUENCE, STATIC, UNSET, Case, ChunkExpect, Expect, Fixed, FixedFinding, Inline, PolicyTests,
    StaticExpect, Step,
)
from guardrails.testing.results import CaseResult, Mismatch, compare, compare_static, format_failure  # noqa: F401
from guardrails.testing.runner import TEST_HASH_SALT, TEST_SUFFIX, FileResult, Prepared, Runner, find_test_files  # noqa: F401
from guardrails.testing.schema import CODES, load_tests, parse_tests

__all__ = [
    "TEST_SUFFIX", "TEST_HASH_SALT", "CODES", "Case", "Expect", "Fixed", "FixedFinding", "PolicyTests",
    "Mismatch", "CaseResult", "FileResult", "PolicyCoverage", "Runner", "parse_tests", "load_tests",
    "overrides_for", "bind", "compare", "format_failure", "find_test_files", "policy_coverage",
    "Inline", "StaticExpect", "compare_static", "Step", "SEQUENCE", "BASE_TIME",
]
