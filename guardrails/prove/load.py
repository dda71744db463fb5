"""Policies loaded for proofs: the checked unit (its AST and scope) beside
its compiled form and an engine that replays the solver's requests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardrails.diagnostics import Diagnostics, PolicyError
from guardrails.pipeline import LoadState, run_pipeline
from guardrails.resolve import Unit
from guardrails.rulegraph import CompiledPolicy
from guardrails.sources import read_paths


class ChooseError(Exception):
    """Which policy to prove about is unclear: the reason."""


@dataclass(frozen=True, slots=True)
class Loaded:
    unit: Unit
    policy: CompiledPolicy
    pii_default: frozenset[str]
    engine: Any

    @property
    def ref(self) -> str:
        return f"{self.policy.name}@{self.policy.version}"


def load(path: str | Path, name: str | None = None, *, ner_model: str | None = None) -> Loaded:
    """The policy `name` (or the only policy) under `path`; PolicyError when it does not load."""
    from guardrails.engine import Engine

    diags = Diagnostics()
    sources = read_paths([path], diags)
    state = run_pipeline(LoadState(sources, diags, ner_model))
    if diags.has_errors:
        raise PolicyError(diags.sorted(), {s.path: s.text for s in sources})
    pairs = [(u, p) for u, p in zip(state.units, state.policies)]
    if name is not None:
        pairs = [(u, p) for u, p in pairs if p.name == name or f"{p.name}@{p.version}" == name]
    if not pairs:
        raise ChooseError(f"{path}: no policy named {name!r}" if name else f"{path}: no policy to prove about")
    if len(pairs) > 1:
        names = ", ".join(sorted(f"{p.name}@{p.version}" for _, p in pairs))
        raise ChooseError(f"{path} holds several policies ({names}): choose one with --policy")
    unit, policy = pairs[0]
    engine = Engine(state.policies, warm_up=False)
    return Loaded(unit, policy, state.pii_default, engine)


__all__ = ["ChooseError", "Loaded", "load"]
