"""Red-team a policy file: attack its own rules and report what slips through.

    >>> report = run_redteam("policies/", policies=["support-bot"], seed=1)
    >>> report.policies[0].tally.rate          # share of variants the policy stopped
    >>> print(report.to_text())                # or to_json(), or render_html(report)

The harness reads a policy's terms, topics, patterns, entity types, secret
rules, injection rules and tool-call conditions (:mod:`.targets`, solved into
requests by :mod:`.solve`), disguises what each rule looks for in every
family of :data:`.families.FAMILIES` (:mod:`.attacks`, :mod:`.obfuscate`,
:mod:`.formats`, drawing on the versioned corpus of :mod:`.corpus`), sends
each variant through the real engine and judges the decision
(:mod:`.runner`). The report (:mod:`.report`, :mod:`.report_html`) gives per
rule the variants caught and tried, the exact text of each that passed, and
the false-positive rate on the benign corpus. ``guardrails redteam`` is the
command-line front door; docs/redteam.md is the guide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from guardrails.redteam.corpus import Corpus, CorpusError, load_corpus
from guardrails.redteam.families import FAMILIES
from guardrails.redteam.report import Report
from guardrails.redteam.runner import Progress, RunOptions, run_policy

__all__ = ["FAMILIES", "CorpusError", "Report", "RunOptions", "run_redteam"]

#: Detector results kept per run: every variant's text is new, but the
#: benign corpus and a module's rules repeat in every policy that imports it.
CACHE_SIZE = 200_000


def run_redteam(path: str | Path | Iterable[str | Path], *, policies: Sequence[str] | None = None,
                seed: int = 0, sample: int | None = None, families: Iterable[str] | None = None,
                corpus: Corpus | str | Path | None = None, progress: Progress | None = None,
                fail_under: float | None = None, max_false_positives: float | None = None) -> Report:
    """Attack the named policies (default: every policy under ``path``).

    :raises PolicyError: the policies do not load (every diagnostic in it).
    :raises GuardrailsError: ``path`` holds modules only.
    :raises UnknownPolicyError: a name that is not loaded.
    :raises CorpusError: the corpus is missing or malformed.
    :raises ValueError: an unknown family name.
    """
    from guardrails.diagnostics import Diagnostics, GuardrailsError, PolicyError
    from guardrails.engine import Engine
    from guardrails.pipeline import load_sources
    from guardrails.resolve import build_units
    from guardrails.sources import read_paths

    chosen = None if families is None else frozenset(families)
    if chosen is not None and chosen - set(FAMILIES):
        raise ValueError(f"unknown famil{'y' if len(chosen - set(FAMILIES)) == 1 else 'ies'} "
                         f"{', '.join(sorted(chosen - set(FAMILIES)))}; known: {', '.join(FAMILIES)}")
    data = corpus if isinstance(corpus, Corpus) else load_corpus(corpus)
    diags = Diagnostics()
    sources = read_paths([path] if isinstance(path, (str, Path)) else list(path), diags)
    result = load_sources(sources, diags=diags)
    if not result.ok:
        raise PolicyError(result.diagnostics, result.sources)
    units = {u.policy.name: u for u in build_units(sources, Diagnostics())[0]}
    if not units:
        raise GuardrailsError(f"no policy to attack in {path}: only modules were found (a module is "
                              "attacked through the policies that import it)")
    engine = Engine(result.policies, cache_size=CACHE_SIZE,
                    warnings=[d for d in result.diagnostics if not d.is_error])
    names = list(dict.fromkeys(policies)) if policies else sorted(units)
    for name in names:
        engine.get_policy(name)  # an unknown name fails here, before any work
    options = RunOptions(seed, sample, chosen)
    reports = [run_policy(engine, units[engine.get_policy(n).name], data, options, progress) for n in names]
    return Report(seed, sample, tuple(sorted(chosen)) if chosen else None, data.digest, reports,
                  fail_under, max_false_positives)
