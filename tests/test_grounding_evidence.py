"""Evidence strength (evidence.py): by default a finding flags a claim alone
only when it is hard evidence; a weak one alone leaves the claim
unverified, listed with its reason and passage; two weak ones of different
families on one clause flag it; strict=1 flags every finding."""

from __future__ import annotations

import pytest

from guardrails import Engine, Outcome
from guardrails.detectors.grounding import Source, check_grounding
from guardrails.detectors.grounding.check import Unsupported
from guardrails.detectors.grounding.evidence import (
    ALL,
    CHECKS,
    DEFAULT,
    Evidence,
    family,
)

SOURCES = (
    Source("kb-1", "Refunds are accepted within 30 days of purchase. Dental care is not covered by the Basic plan."),
    Source("kb-2", "The annual deductible is $1,200 per person. The Aurora X2 was released on 14 March 2024."),
)
# Weak on its own: a two-word term no source has a word of (term.new).
TERM = "The Basic plan includes a heat pump."
# Weak on its own: a polarity the passage words with another verb ("permitted" against "not covered": the
# passage's negation, not over the claim's own words, negation.dropped).
POLARITY = "Dental care is permitted by the Basic plan unless you opt out."  # an exception: weak (round 7)


def _weak(result) -> list[Unsupported]:
    return [u for u in result.unverified if isinstance(u, Unsupported)]


@pytest.mark.parametrize("answer, reason, check", [
    (TERM, "entity_missing", "term.new"),
    (POLARITY, "negation", "negation.dropped"),
])
def test_a_weak_finding_alone_is_unverified_by_default_and_flagged_with_strict(answer, reason, check):
    default = check_grounding(answer, SOURCES)
    assert default.unsupported == () and default.score == 1.0
    (u,) = _weak(default)
    assert (u.reason, u.evidence) == (reason, (check,))
    assert u.passage is not None and u.source_id in ("kb-1", "kb-2") and u.detail  # the explanation is kept
    assert default.to_json()["unverified"][0]["reason"] == reason
    assert [x.reason for x in check_grounding(answer, SOURCES, strict=True).unsupported] == [reason]
    assert [x.reason for x in check_grounding(answer, SOURCES, evidence=ALL).unsupported] == [reason]


@pytest.mark.parametrize("answer, reason, check", [
    ("Refunds are accepted within 90 days of purchase.", "number_mismatch", "figure.kin.unit.close"),
    ("Refunds are accepted within 30 days by the Gold desk.", "entity_missing", "name.capital"),
    ("The Aurora X3 was released on 14 March 2024.", "entity_missing", "name.code"),
    ("Dental care is covered by the Basic plan.", "negation", "negation.denied"),  # the same words, denied
    ("Dental care comes with free parking.", "missing_number", "free.none"),  # no passage offers anything free
    ("Refunds are accepted within 30 days of purchase [kb-7].", "bad_citation", "citation.none"),
    ('The policy says refunds are "granted without question".', "bad_citation", "quote.none"),
])
def test_a_hard_finding_flags_alone(answer, reason, check):
    assert check in DEFAULT.hard
    (u,) = check_grounding(answer, SOURCES).unsupported
    assert (u.reason, u.evidence[-1]) == (reason, check)
    assert u.detail and (u.passage is not None or reason == "bad_citation")


def test_two_weak_findings_of_different_families_agreeing_flag_the_clause():
    both = "Dental care is permitted by the Basic plan with a heat pump unless you opt out."
    (u,) = check_grounding(both, SOURCES).unsupported
    assert u.evidence == ("term.new", "negation.dropped")  # the checks' order: terms before polarity
    assert u.reason == "entity_missing" and "heat pump" in u.detail and u.passage is not None  # the first names it
    # the same two with agreement switched off: unverified, both checks listed
    lone = Evidence(DEFAULT.hard, agree=3)
    r = check_grounding(both, SOURCES, evidence=lone)
    assert r.unsupported == () and _weak(r)[0].evidence == ("term.new", "negation.dropped")


def test_two_findings_of_one_family_are_one_signal():
    assert family("term.new") == family("free") == family("content") == "words"
    assert family("price.per") == family("figure.kin.bare.far") == "figure"
    assert family("quote.none") == "citation" and family("negation.added") == "polarity"
    assert not DEFAULT.strong(("term.new", "free")) and DEFAULT.strong(("term.new", "negation.dropped"))
    r = check_grounding("Dental care comes with free parking and a heat pump.",
                        (Source("kb", "Dental care comes with free check-ups."),))
    assert r.unsupported == () and _weak(r)


def test_the_table_names_only_known_checks_and_strength_grows_with_findings():
    assert DEFAULT.hard <= set(CHECKS) and ALL.hard == set(CHECKS)
    for c in CHECKS:  # a table's strength only grows with more checks: the evaluation script relies on it
        assert DEFAULT.strong((c,)) <= DEFAULT.strong((c, "term.new")) <= DEFAULT.strong((c, "term.new", "negation"))


def test_an_engine_rule_sees_only_flagged_claims_by_default_and_every_finding_with_strict():
    policy = '''policy "e" version "1.0.0"
output {
  rule default-terms: deny "x" when ungrounded(entity_missing)
  rule strict-share: warn "y" when not grounded(strict=1)
}
'''
    e = Engine.from_source(policy)
    d = e.check_output(TERM, sources=[s.to_json() for s in SOURCES])
    assert d.outcome is Outcome.ALLOW and {v.rule for v in d.violations} == {"strict-share"}
    d = e.check_output("Refunds are accepted within 30 days by the Gold desk.",
                       sources=[s.to_json() for s in SOURCES])
    assert d.outcome is Outcome.DENY


# The passage's negation governs the claim's own predicate (negation.predicate), and where another verb
# comes between them it does not ("cannot repay ... may renew": the renewal is not denied).
GOVERNED = (Source("kb", "If you cannot repay on time you may renew the loan once. Pets are not allowed in the "
                         "cabins."),)


def test_a_passage_denying_the_claim_s_own_predicate_flags_it_alone():
    (u,) = check_grounding("Pets are allowed in the cabins on request.", GOVERNED).unsupported
    assert (u.reason, u.evidence) == ("negation", ("negation.predicate",)) and "negation.predicate" in DEFAULT.hard
    assert u.passage == "Pets are not allowed in the cabins."


def test_a_negation_another_verb_stands_between_leaves_the_claim_unverified():
    r = check_grounding("You may renew the loan once on request.", GOVERNED)
    assert r.unsupported == ()
    (u,) = _weak(r)
    assert (u.reason, u.evidence) == ("negation", ("negation.dropped",))
    assert [x.reason for x in check_grounding("You may renew the loan once on request.", GOVERNED,
                                              strict=True).unsupported] == ["negation"]


# The mirror: the claim's negation governs its predicate, and a passage that denies nothing asserts it of
# the claim's object. A denial is general and an assertion specific: the object is asked for here.
ASSERTED = (Source("kb", "Overtime must be approved in advance by a team lead. Disposable cups are included and "
                         "china can be hired at $4 per guest."),)


def test_a_passage_asserting_what_the_claim_s_negation_governs_flags_it_alone():
    for answer in ("Overtime does not need to be approved in advance.", "You won't need to hire any china."):
        (u,) = check_grounding(answer, ASSERTED).unsupported
        assert (u.reason, u.evidence) == ("negation", ("negation.predicate",)), answer


def test_a_passage_asserting_the_predicate_of_another_object_leaves_the_claim_unverified():
    r = check_grounding("You won't need to hire any cups.", ASSERTED)  # china is hired, cups are included
    assert r.unsupported == ()
    (u,) = _weak(r)
    assert (u.reason, u.evidence) == ("negation", ("negation.added",)) and u.passage is not None


# Round 3: a passage that is the claim restated under a negation, short of one word that is not the
# claim's predicate (contradiction.denies_restated), is hard alone; lacking the claim's predicate, weak.
RESTATED = (Source("kb", "We do not groom cats. Redwood runs games daily. Players may not bring their own "
                         "paintballs or markers."),)


def test_a_passage_restating_the_claim_under_a_negation_flags_it_alone():
    (u,) = check_grounding("They groom cats as well as dogs.", RESTATED).unsupported
    assert (u.reason, u.evidence) == ("negation", ("negation.restated",)) and "negation.restated" in DEFAULT.hard
    assert u.passage == "We do not groom cats."


def test_a_passage_lacking_the_claim_s_predicate_leaves_the_claim_unverified():
    r = check_grounding("You'll have to use Redwood's own markers and paintballs.", RESTATED)
    assert r.unsupported == ()
    (u,) = _weak(r)
    assert (u.reason, u.evidence) == ("negation", ("negation.dropped",)) and u.passage is not None


# Round 3: a citation of a source holding at most one of the claim's words, where a source not cited is
# clearly about the claim (POLARITY_OVERLAP of its words), is hard alone; where no source not cited holds
# that much of it, the claim stays unverified (citation.share).
CITED = (Source("policy", "Dental cleaning is not included in the Basic plan."),
         Source("hours", "The clinic opens at nine on weekdays and closes at noon on Saturdays."))


def test_a_citation_of_a_source_lacking_the_claim_another_source_holds_flags_it_alone():
    (u,) = check_grounding("The clinic closes on Saturdays [policy].", CITED).unsupported
    assert (u.reason, u.evidence) == ("bad_citation", ("citation.elsewhere",))
    assert "citation.elsewhere" in DEFAULT.hard and u.source_id == "hours"


def test_a_citation_no_other_source_is_clearly_about_leaves_the_claim_unverified():
    r = check_grounding("The clinic opens on weekdays for dental patients [policy].", CITED)  # hours: 3 of 5
    assert r.unsupported == ()
    assert [(u.reason, u.evidence) for u in _weak(r)] == [("bad_citation", ("citation.share",))]


# Round 3: a bare figure that counts a thing ("212 steps") does not give a claim's measure of the same
# number ("a 212-metre climb"); a bare figure counting nothing still does.
def test_a_measure_against_the_same_number_of_another_thing_flags_it_alone():
    steps = (Source("kb", "There is no lift, and the climb to the top of the tower is 212 steps."),)
    (u,) = check_grounding("It is a 212-metre climb to the top of the tower.", steps).unsupported
    assert u.reason == "number_mismatch" and u.evidence[0] in DEFAULT.hard and "212-metre" in u.detail


def test_a_bare_figure_counting_nothing_still_gives_the_measure():
    bare = (Source("kb", "There is no lift, and the climb to the top of the tower is 212, all of it outdoors."),)
    r = check_grounding("It is a 212-metre climb to the top of the tower.", bare)
    assert r.unsupported == () and not _weak(r)
