"""Proofs about policies with the z3 SMT solver (``guardrails prove``; docs/prove.md).

The pipeline: :mod:`.load` (a checked unit beside its compiled form),
:mod:`.symbolic` (the symbolic request), :mod:`.encode` (conditions as z3
terms), :mod:`.regex` (policy regexes as z3 regexes), :mod:`.stage` (the
combining rules as z3 terms), :mod:`.queries` (the questions, one solver
search each) and :mod:`.witness` (a model as a request, replayed on the
engine). z3 is an optional extra (``pip install 'guardlang[prove]'``);
importing this package does not import it.
"""

from guardrails.prove.symbolic import EXTRA, Outside, ProveUnavailable

__all__ = ["EXTRA", "Outside", "ProveUnavailable"]
