"""grounded() and its relatives: the detector check by check, the labelled
corpus against the issue's targets, the language, the engine's sources and
sessions, and the NLI backend through a small local stand-in."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from guardrails import Engine, Outcome
from guardrails.detectors.grounding import (
    Source,
    check_grounding,
    extract_claims,
    find_quantities,
    read_sources,
)
from guardrails.detectors.grounding.evidence import ALL
from guardrails.diagnostics import PolicyError

CORPUS = Path(__file__).resolve().parent / "grounding"

SOURCES = (
    Source("kb-1", "Refunds are accepted within 30 days of purchase. Dental care is not covered by the Basic plan."),
    Source("kb-2", "The annual deductible is $1,200 per person. The Aurora X2 was released on 14 March 2024."),
)


# ---- quantities ----------------------------------------------------------------

@pytest.mark.parametrize("a, b", [
    ("thirty days", "30 days"),
    ("$1,200", "1200 dollars"),
    ("2 weeks", "14 days"),
    ("4,000 mg", "4 grams"),
    ("March 14, 2024", "14 March 2024"),
    ("2024-03-14", "14/03/2024"),
    ("twenty-five days", "25 days"),
    ("a 2-year warranty", "two years"),
    ("renewed twice", "two times"),
    ("$0.20", "20 cents"),
    ("45p", "£0.45"),
    ("a 7.5-tonne lorry", "7,500 kg"),
    ("winds above 30 mph", "30 miles per hour"),
    ("100 yards", "300 feet"),
])
def test_one_value_written_two_ways_is_one_fact(a, b):
    (qa,), (qb,) = find_quantities(a), find_quantities(b)
    assert qa.same(qb)


@pytest.mark.parametrize("a, b", [
    ("30 days", "90 days"),
    ("8 kg", "8 lb"),
    ("100 GB", "100 TB"),
    ("8 °C", "8 °F"),
    ("19.9% a year", "19.9% a month"),
    ("$12", "€12"),
    ("14 May 2024", "14 March 2024"),
    ("a swim test of 50 yards", "50 metres"),  # round 4: a unit the normaliser did not know was a bare figure
    ("2 pints", "2 litres"),
    ("10 acres", "10 hectares"),
    ("30 mph", "30 km/h"),
])
def test_units_currencies_and_dates_must_match(a, b):
    (qa,), (qb,) = find_quantities(a), find_quantities(b)
    assert not qa.same(qb)


def test_a_value_inside_a_stated_range_is_that_fact_and_one_outside_is_not():
    (inside,) = find_quantities("a 28 kg bag")
    low, high = find_quantities("bags between 23 kg and 32 kg")
    assert inside.same(high) and inside.same(low)
    (outside,) = find_quantities("a 33 kg bag")
    assert not outside.same(high)
    assert [q.within for q in find_quantities("2 or 3 days")] == [None, None]  # a choice, not a range


def test_a_range_gives_its_unit_to_both_ends_and_ordinals_are_not_numbers():
    qs = find_quantities("Delivery takes 3 to 5 business days, from the first day.")
    assert [(q.value, q.unit) for q in qs] == [(3.0, "time"), (5.0, "time")]


# ---- claims ----------------------------------------------------------------------

def test_framing_and_abstentions_make_no_claim():
    answer = ("Hi there! Thanks for asking. The documents do not say whether eye exams are covered. "
              "Refunds are accepted within 30 days. I hope this helps. Let me know if you need anything else.")
    claims = extract_claims(answer)
    assert [c.text for c in claims] == ["Refunds are accepted within 30 days."]
    assert answer[claims[0].start:claims[0].end] == claims[0].text


def test_a_sentence_joining_two_statements_is_checked_clause_by_clause():
    (claim,) = extract_claims("Refunds are paid in 5 days, and shipping is free on orders over $50.")
    assert [c.text for c in claim.clauses] == ["Refunds are paid in 5 days", "shipping is free on orders over $50."]


# ---- the checks, one reason each ---------------------------------------------------

@pytest.mark.parametrize("answer, reason, shown", [
    ("Refunds are accepted within 90 days of purchase.", "number_mismatch", "90 days"),
    ("Refunds are accepted within 30 weeks of purchase.", "number_mismatch", "30 weeks"),
    ("Refunds are accepted within 30 days by the Gold desk.", "entity_missing", "Gold"),
    ("Dental care is covered by the Basic plan.", "negation", None),
    ("Refunds are accepted within 30 days of purchase [kb-7].", "bad_citation", "[kb-7]"),
    ("Refunds are accepted within 30 days of purchase [kb-2].", "bad_citation", "kb-2"),
    ('The policy says refunds are "granted without question".', "bad_citation", "granted without question"),
    ("Refunds are accepted within 30 days for helicopter purchases.", "unsupported", "helicopter"),
    ("The Aurora X2 was released on 14 May 2024.", "number_mismatch", "14 May 2024"),
    ("The dental care is permitted by the Basic plan.", "negation", None),
    ("Bookings are refunded within 30 days of purchase.", "unsupported", "book"),  # a first word: not a name
    ("The Basic plan includes a heat pump.", "entity_missing", "heat pump"),  # a term none of whose words is there
    ("Dental care comes with free parking.", "missing_number", "free"),  # a price of nothing no source gives
    ("The Basic plan covers red dental care.", "entity_missing", "red dental"),
])
def test_each_check_names_its_reason_span_and_closest_passage(answer, reason, shown):
    # every finding counted (evidence.ALL): a weak one alone is unverified by default (test_grounding_evidence.py)
    result = check_grounding(answer, SOURCES, strict=reason == "unsupported", evidence=ALL)  # content: opt-in
    assert result.score == 0.0
    (u,) = result.unsupported
    assert u.reason == reason
    assert answer[u.start:u.end].strip(" .") in answer
    if shown is not None:
        assert shown in u.detail
    if reason != "bad_citation" or "kb-2" in answer:
        assert u.passage is not None and u.source_id in ("kb-1", "kb-2")


@pytest.mark.parametrize("answer", [
    "Refunds are accepted for thirty days after purchase.",
    "You get your money back within 30 days of buying [kb-1].",
    "The Basic plan does not cover dental care [1].",
    "The deductible is 1200 dollars per person a year, and refunds are accepted within 30 days.",
    "The Aurora X2 was released on March 14, 2024.",
    "Sure! The documents don't mention eye exams. Refunds are accepted within 30 days.",
    "Refunds are accepted within 30 days, and feel free to ask if anything else comes up.",
])
def test_supported_answers_pass(answer):
    result = check_grounding(answer, SOURCES)
    assert result.unsupported == (), result.unsupported
    assert result.score == 1.0


#: A near miss the claim presents as worked out (round 6, docs/grounding.md): by default it is unverified,
#: listed with "worked out: not checked" (check figure.worked), and strict=1 flags it.
WORKED = "worked"


def _assert_flagged(answer: str, sources, flagged) -> None:
    result = check_grounding(answer, sources)
    if flagged == WORKED:
        assert not result.unsupported, result.unsupported
        assert any("figure.worked" in u.evidence for u in result.unverified), result.unverified
        assert check_grounding(answer, sources, strict=True).unsupported
    else:
        assert bool(result.unsupported) == flagged, (result.unsupported, result.unverified)

# Round 4 (docs/grounding.md): each rule's supported case passes by default, and
# a near miss, a wrong figure or unit in the same place, is still flagged.
ROUND_4 = {
    "swim": (Source("rw-2", "All rowers must pass a swim test of 50 metres in light clothing before going out on "
                            "the water."),),
    "hire": (Source("th-rates", "A breaker hammer costs £38 for the first day, £19 for each extra day and £95 for a "
                                "week. A floor sander is £42 per day or £110 per week."),),
    "pause": (Source("mr-2", "Deliveries are made on Monday, Wednesday and Friday. There is no delivery charge, but "
                             "the minimum order is £5 per delivery."),
              Source("mr-3", "Bread must be ordered by noon on the day before delivery. You can pause deliveries for "
                             "holidays in the app; there is no charge for pausing.")),
    "acu": (Source("ac-1", "Follow-up treatments last 45 minutes and cost £55."),
            Source("ac-2", "Tell us before treatment if you are pregnant, take blood thinners or have a pacemaker, "
                           "as electro-acupuncture is not used on patients with a pacemaker.")),
    "karaoke": (Source("ka-1", "Star Booth Karaoke in Glasgow has 14 private rooms. Small rooms hold up to 6 people "
                               "and cost £30 per hour; medium rooms hold up to 12 and cost £55 per hour."),
                Source("ka-3", "Star Booth is over-18s only after 8pm; before 8pm under-18s are welcome with an adult. "
                               "A deposit of 50% is taken at booking and is refunded if you cancel at least 72 hours "
                               "before.")),
    "taster": (Source("gb-1", "A 2-hour taster session costs £95. Taster sessions are for ages 14 and over; the "
                              "full-day course is for ages 18 and over."),),
    "ghost": (Source("g1", "The Ghost Walk leaves every evening at 19:30. Adult tickets cost £14, children aged 8 to "
                           "15 cost £8. Children under 8 are not allowed on the tour."),),
    "party": (Source("vr-1", "A 30-minute session costs £18 per player and a 60-minute session costs £30 per player."),
              Source("vr-3", "Party packages cost £25 per child for a 30-minute session plus 45 minutes in the party "
                             "room with pizza and squash, for a minimum of 6 children.")),
    "screen": (Source("pr-1", "A screen replacement for an iPhone 13 costs £129 and for a Samsung Galaxy S22 costs "
                              "£149; most screens are done within 45 minutes."),
               Source("pr-2", "We use high-quality compatible screens unless you ask for an original part, which costs "
                              "£40 more and may take 2 days to order.")),
    "frame": (Source("pf-1", "Bespoke framing for an A4 print starts at £55 and A3 starts at £78, including a single "
                             "mount and standard 2 mm glass. Anti-reflective museum glass adds £40 for A4 and £65 for "
                             "A3. Ready-made frames in the shop start at £12."),),
    "studio": (Source("1", "Studio One costs £45 per hour with an engineer, or £320 for a 10-hour day. Studio Two is a "
                           "smaller room for vocals and podcasts at £25 per hour, engineer included. Bookings are for a "
                           "minimum of 3 hours in Studio One and 2 hours in Studio Two."),),
    "luggage": (Source("LL-3", "The office is open 07:00 to 23:00 every day, including bank holidays, but closes at "
                               "17:00 on 25 and 26 December. Lost tickets are replaced for a £5 admin fee."),),
    "course": (Source("gb-1", "A full-day course, from 09:30 to 16:30, costs £260 and includes lunch. Taster sessions "
                              "are for ages 14 and over; the full-day course is for ages 18 and over."),),
    "pension": (Source("p-1", "Members who leave the employer within 2 years of joining may request a refund of "
                              "their own contributions; employer contributions are not refunded."),),
}


@pytest.mark.parametrize("sources, answer, flagged", [
    ("swim", "Every rower has to pass a swim test of 50 metres in light clothing.", False),
    ("swim", "Every rower has to pass a swim test of 50 yards in light clothing.", True),
    ("swim", "Every rower has to pass a swim test of 150 feet in light clothing.", True),
    # a price's unit read up to a word of time; a list's item the claim prices itself is the claim's
    ("hire", "A breaker hammer is £38 for the first day and £19 for each day after that.", False),
    ("hire", "A breaker hammer is £38 for the first day and £29 for each day after that.", True),
    # a predicate one clause of the passage denies and another asserts: the clause whose predicate it is
    ("pause", "You can pause your deliveries in the app and there's no charge for doing so [mr-3].", False),
    ("pause", "You cannot pause deliveries for holidays in the app [mr-3].", True),
    ("acu", "Since you have a pacemaker, the clinic won't use electro-acupuncture on you [ac-2].", False),
    ("pension", ("If you leave within 2 years of joining, you can get a refund of your own contributions, and "
                 "your employer's contributions are refunded to you as well."), True),
    ("pension", "Your employer's contributions are not refunded if you leave within 2 years.", False),
    # a person's age where the chunk sets an age bound: an example, either side of the bound; the claim's own bound
    # is still a figure
    ("karaoke", ("A medium room for your group of 10 is £55 an hour, and as long as you're there before 8pm your "
                 "16-year-old can come along with you."), False),
    ("karaoke", ("A medium room for your group of 10 is £55 an hour, and as long as you're there before 9pm your "
                 "16-year-old can come along with you."), True),
    ("taster", "Your 12-year-old can't do the taster yet, as it's 14 and over.", False),
    ("taster", "Your 12-year-old can't do the taster yet, as it's for those 16 years and over.", True),
    ("taster", "Your 12-year-old can do the taster session.", True),  # the bound does not admit 12
    ("taster", "Your 15-year-old can do the taster session.", False),
    ("ghost", "I'm afraid children under 8 can't join the tour, so your 6-year-old wouldn't be able to come.", False),
    ("ghost", "Your 6-year-old would pay £6.", True),
    ("ghost", "Your 6-year-old can come on the tour.", True),  # "Children under 8 are not allowed"
    # a price worked out from the sources' in one step: a price per one times the claim's count, a price plus an
    # amount given as added
    ("party", "A party for 8 children would come to £200 at £25 a head.", False),
    ("party", "A party for 8 children would come to £210 at £25 a head.", WORKED),
    ("party", "A party for 8 children would come to £250 at £25 a head.", WORKED),
    ("screen", "An iPhone 13 screen is £129, or £169 if you'd like an original part.", False),
    ("screen", "An iPhone 13 screen is £129, or £179 if you'd like an original part.", True),
    ("screen", "A Samsung Galaxy S22 screen is £89 with a compatible part.", True),  # £129 less £40: not read
    ("frame", "A bespoke A3 frame with museum glass would start at £143.", False),
    ("frame", "A bespoke A3 frame with museum glass would start at £153.", True),
    ("frame", "A bespoke A3 frame would start at £39.", True),  # half of £78: not read
    ("studio", "A 2-hour podcast session in Studio Two would be £50.", False),
    ("studio", "A 2-hour podcast session in Studio Two would be £60.", WORKED),
    ("studio", "A 2-hour podcast session in Studio Two would be £45.", WORKED),
    # a holiday whose date a source gives, an age group whose bound a source writes
    ("luggage", "On Boxing Day the office shuts early, at 5pm, so collect your bags before then.", False),
    ("luggage", "On Christmas Eve the office shuts early, at 5pm, so collect your bags before then.", True),
    ("course", "The full-day course costs £260 with lunch, and is for over-18s only [gb-1].", False),
    ("course", "The full-day course costs £260 with lunch, and is for over-21s only [gb-1].", True),
])
def test_round_4_supported_cases_pass_and_near_misses_flag(sources, answer, flagged):
    _assert_flagged(answer, ROUND_4[sources], flagged)



# Round 5 (docs/grounding.md): a figure worked out in the claim's own wording (a difference or a sum of figures it
# states, a total, a balance after an amount a source says comes off, a rate times a duration, a refund in full);
# a near miss in the same place still flags.
ROUND_5 = {
    "refund": (Source("sw-1", "The open-water course costs £320 and runs over four days in August."),
               Source("sw-2", "Anyone who fails the first-morning swim test leaves the course and gets a refund "
                              "minus a £40 admin fee.")),
    "entry": (Source("ev-1", "Entry is £9 for members and £12 for non-members."),
              Source("ev-2", "Newcomers can hire a timing chip for £2 on the day.")),
    "courses": (Source("dc-1", "The beginners course costs £90 for one dog and one handler."),
                Source("dc-2", "The advanced course is for dogs over a year old and costs £110 for eight sessions.")),
    "tattoo": (Source("tt-1", "Small flash tattoos cost £60 and custom pieces start at £150. A £20 deposit is needed "
                              "to book, and it comes off the price on the day."),),
    "coaching": (Source("co-1", "Coaching sessions cost £40 per person per hour, and most sessions last 90 minutes."),),
    "donation": (Source("rp-1", "Repairs are free, but we suggest a donation of £4 per item towards costs."),
                 Source("rp-2", "You can bring up to two items per visit.")),
    "stitch": (Source("st-1", "Logos of up to 10,000 stitches cost £4.50 per item; larger designs are quoted."),),
    "puppy": (Source("pp-1", "The puppy course runs for six weeks and costs £90 for one puppy and one handler."),),
    "shed": (Source("sh-1", "We take on small community jobs such as bird boxes and bench repairs for local schools."),
             Source("sh-3", "We charge only for materials and do not accept jobs from private businesses.")),
    "birds": (Source("fb-3", "Please wear sturdy footwear and dark clothing, and no perfume or aftershave, as it upsets "
                             "the birds."),),
    "wait": (Source("w-1", "The current wait for a first appointment is around three weeks."),),
    "wait_digits": (Source("w-1", "The current wait for a first appointment is around 3 weeks."),),
    "kayak": (Source("ky-1", "The Sea Kayak Taster at Porthmore costs £75 per person and lasts three hours."),
              Source("ky-2", "If we cancel because of strong winds, we will rebook you or refund you in full.")),
}


@pytest.mark.parametrize("sources, answer, flagged", [
    ("refund", "If you fail the swim test you'd get £280 back, which is the £320 course fee minus the £40 admin fee.",
     False),
    ("refund", "If you fail the swim test you'd get £290 back, which is the £320 course fee minus the £40 admin fee.",
     True),
    ("refund", "If you fail the swim test you'd get £280 back.", True),  # the operands not stated: not read
    ("entry", "As a non-member you'd pay £12 to enter plus £2 for a timing chip, so £14 altogether.", False),
    ("entry", "As a non-member you'd pay £12 to enter plus £2 for a timing chip, so £15 altogether.", WORKED),
    ("courses", "Doing the beginners course and then the advanced course would cost £200 in total.", False),
    ("courses", "Doing the beginners course and then the advanced course would cost £210 in total.", WORKED),
    ("courses", "The advanced course costs £200.", True),  # no total worded: a sum is not read
    ("tattoo", "A small flash tattoo means a £20 deposit to book and £40 on the day.", False),
    ("tattoo", "A small flash tattoo means a £20 deposit to book and £50 on the day.", True),
    ("coaching", "A typical 90-minute session would come to £60 per person.", False),
    ("coaching", "A typical 90-minute session would come to £80 per person.", True),
    ("donation", "If you brought two lamps and gave the suggested donation for each, that'd be £8.", False),
    ("donation", "If you brought two lamps and gave the suggested donation for each, that'd be £10.", WORKED),
    ("kayak", "If strong winds mean the Sea Kayak Taster is called off, they'll give you the full £75 back.", False),
    ("kayak", "If strong winds mean the Sea Kayak Taster is called off, they'll give you the full £85 back.", True),
    # what a price is for against a general word ("per item" is met by any countable thing, not by a period), and
    # who pays is not what is priced
    ("stitch", "Embroidering your logo would be £4.50 a shirt.", False),
    ("stitch", "Embroidering your logo would be £4.50 an hour.", True),
    ("stitch", "Embroidering your logo would be £5.50 a shirt.", True),
    ("puppy", "The puppy course is ninety pounds for you and your pup.", False),
    ("puppy", "The puppy course is £80 for you and your pup.", True),  # a spelled-out figure is weak alone
    # both sides deny, in other words: they agree
    ("shed", "Jobs from private businesses aren't taken on [sh-3].", False),
    ("shed", "Jobs from private businesses are accepted [sh-3].", True),
    ("shed", "The shed accepts jobs from private businesses.", True),
    ("birds", "Please skip the perfume or aftershave on the day, and wear sturdy shoes [fb-3].", False),
    ("birds", "Please wear perfume or aftershave on the day [fb-3].", True),
    # a figure in words against one in words of the same unit is read as digits are; against digits, still weak
    ("wait", "The wait for a first appointment is around five weeks.", True),
    ("wait", "The wait for a first appointment is around three weeks.", False),
    ("wait_digits", "The wait for a first appointment is around five weeks.", False),
])
def test_round_5_worked_out_figures_pass_and_near_misses_flag(sources, answer, flagged):
    _assert_flagged(answer, ROUND_5[sources], flagged)


# Round 6 (docs/grounding.md): a figure the claim presents as worked out (a price worded as a total or a result,
# the prices of its currency beside it, a price in brackets after another) is unverified, not a mismatch, and
# strict=1 flags it; a single figure with no such wording is checked as before, and so is a rate the claim
# says something "comes to"; "£1.45k" is £1,450.
ROUND_6 = {
    "books": (Source("bk-1", "Hardbacks are £20 and paperbacks £9."),
              Source("bk-2", "Reader's Card holders get 10% off full-price books, but not gift cards.")),
    "pool": (Source("pl-1", "An adult annual pass costs £45."), Source("pl-2", "A single adult visit is £19.50.")),
    "cottage": (Source("gc-1", "Gull Cottage costs £1,450 for a week in August and £980 in October."),),
    "windows": (Source("wn-1", "Outside windows, frames and sills cost £28 a visit for a four-bedroom house."),),
}


@pytest.mark.parametrize("sources, answer, flagged", [
    ("books", "With a Reader's Card, a £20 hardback would cost you £18.", False),
    ("books", "With a Reader's Card, a £20 hardback would cost you £16.", WORKED),
    ("books", "A hardback is £22.", True),  # one figure, no derivation: still a mismatch
    ("books", "With a Reader's Card, a hardback is £22.", True),
    ("pool", "An adult annual pass is £45, less than three single adult visits at £19.50 each (£58.50).", False),
    ("pool", "An adult annual pass is £55.", True),
    ("cottage", "An August week at Gull Cottage is £1.45k.", False),
    ("cottage", "An August week at Gull Cottage is £1.55k.", True),
    ("windows", "For a four-bedroom house, outside windows, frames and sills come to £28 a visit.", False),
    ("windows", "For a four-bedroom house, outside windows, frames and sills come to £32 a visit.", True),
])
def test_round_6_worked_out_figures_are_unverified_and_single_figures_still_flag(sources, answer, flagged):
    _assert_flagged(answer, ROUND_6[sources], flagged)


def test_a_cited_source_lacking_what_no_source_has_is_no_second_signal():
    """Round 6: a word no source has is not in the cited source either; that
    is one finding, not a new term and a citation agreeing."""
    sources = (Source("bs-3", "Signed copies cannot be returned or exchanged."),
               Source("bs-1", "Orders over £25 ship free."))
    answer = "Signed copies can't be returned, so do double-check before you buy one [bs-3]."
    result = check_grounding(answer, sources)
    assert result.unsupported == () and [u.evidence for u in result.unverified] == [("term.new",)], result
    # the cited source lacking a fact another source has is still evidence
    wrong = check_grounding("Signed copies can't be returned, and orders over £25 ship free [bs-3].", sources)
    assert wrong.unsupported and wrong.unsupported[0].reason == "bad_citation", wrong


def test_a_worked_out_figure_is_listed_as_unverified_with_its_reason():
    result = check_grounding("With a Reader's Card, a £20 hardback would cost you £16.", ROUND_6["books"])
    assert result.unsupported == ()
    [u] = result.unverified
    assert u.evidence == ("figure.worked",) and u.detail == "'£16': worked out: not checked", u


def test_by_default_only_hard_evidence_flags_and_a_claim_with_none_is_unverified():
    """Precision first: a word no source has is the answer's own phrasing
    as often as a new fact, so it flags only with the content check on; a
    claim with nothing hard to check passes, listed as unverified."""
    answer = "Refunds are accepted within 30 days for helicopter purchases. The staff are friendly and helpful."
    default = check_grounding(answer, SOURCES)
    assert default.unsupported == () and default.score == 1.0
    assert [c.text for c in default.unverified] == ["The staff are friendly and helpful."]
    assert default.to_json()["unverified"][0]["start"] == answer.index("The staff")
    strict = check_grounding(answer, SOURCES, strict=True)
    assert [u.reason for u in strict.unsupported] == ["unsupported", "unsupported"] and strict.unverified == ()


def test_a_citation_to_a_source_that_barely_holds_the_claim_is_bad():
    answer = "Dental care is not covered [kb-2]."  # kb-1 says so; kb-2 is about deductibles; nothing hard in it
    (u,) = check_grounding(answer, SOURCES, evidence=ALL).unsupported
    assert u.reason == "bad_citation" and "kb-1 holds it" in u.detail
    # kb-2 holds none of its words and kb-1 all: hard alone by default (round 3, citation.elsewhere)
    (hard,) = check_grounding(answer, SOURCES).unsupported
    assert (hard.reason, hard.detail, hard.evidence) == (u.reason, u.detail, ("citation.elsewhere",))
    assert check_grounding("Dental care is not covered [kb-1].", SOURCES, evidence=ALL).unsupported == ()


def test_a_figure_after_a_citation_is_shown_as_written():
    (u,) = check_grounding("Per the policy [1], refunds are accepted within 90 days.", SOURCES).unsupported
    assert u.detail.startswith("'90 days'"), u.detail  # the citation once shifted it: 'n 90 da'


def test_the_score_is_the_share_of_claims_supported():
    result = check_grounding("Refunds are accepted within 30 days. Refunds are accepted within 60 days.", SOURCES)
    assert (result.claims, result.supported, result.score) == (2, 1, 0.5)
    assert check_grounding("Thanks!", SOURCES).score == 1.0  # no claim, nothing unsupported


# ---- the corpus: the Done-when, on the held-out split -----------------------

def _run(split: str):
    data = yaml.safe_load((CORPUS / f"{split}.yaml").read_text(encoding="utf-8"))
    rows = []
    for case in data["cases"]:
        sources, problem = read_sources(data["sources"][case["sources"]])
        assert problem is None
        result = check_grounding(case["answer"], sources)
        rows.append((case, bool(result.unsupported)))
    return rows


def _rates(rows):
    unsupported = [flagged for c, flagged in rows if c["label"] == "unsupported"]
    supported = [flagged for c, flagged in rows if c["label"] == "supported"]
    return sum(unsupported) / len(unsupported), sum(supported) / len(supported)


#: The held-out split: written by another engineer without reading the
#: detector, never read nor run while the detector was tuned; run once at the
#: end of a round (docs/grounding.md). None between rounds: the last one
#: (heldout-16, run after round 6 of evidence strength: 70/100 caught, 7/100
#: flagged) has been seen and is dev-17 now, and heldout-17 is written and
#: run only after the next round's changes (issue 19) are committed.
HELDOUT: str | None = None
DEV = ("dev", "dev-2", "dev-3", "dev-4", "dev-5", "dev-6", "dev-7", "dev-8", "dev-9", "dev-10",
       "dev-11", "dev-12", "dev-13", "dev-14", "dev-15", "dev-16", "dev-17")


def _splits():
    return (*DEV, HELDOUT) if HELDOUT else DEV


def test_the_corpus_is_labelled_and_covers_every_kind():
    for split in _splits():
        kinds = Counter(c["kind"] for c, _ in _run(split))
        assert set(kinds) >= {"paraphrase", "number_format", "combined", "does_not_say", "framing", "wrong_figure",
                              "wrong_unit", "wrong_entity", "negation_flip", "fabricated_claim",
                              "fabricated_citation"}


#: The dev pool's counts by default, per split: (caught, unsupported, flagged,
#: supported), with evidence strength (evidence.DEFAULT: a finding flags
#: alone only when it is hard evidence; scripts/grounding_loso.py prints the
#: same table). A change of the detector that moves any of them updates
#: this table with the figures its commit message reports.
DEV_COUNTS = {
    "dev": (21, 27, 0, 26), "dev-2": (27, 27, 0, 23), "dev-3": (30, 37, 0, 34), "dev-4": (34, 40, 0, 38),
    "dev-5": (73, 99, 0, 97), "dev-6": (75, 100, 1, 100), "dev-7": (86, 100, 0, 100), "dev-8": (73, 100, 0, 100),
    "dev-9": (71, 100, 1, 100),
    "dev-10": (72, 100, 3, 100), "dev-11": (70, 100, 4, 100),
    "dev-12": (69, 100, 2, 100), "dev-13": (79, 100, 1, 100), "dev-14": (70, 100, 0, 100),
    "dev-15": (61, 100, 1, 100), "dev-16": (64, 100, 3, 100),
    "dev-17": (77, 100, 7, 100),
}


def _counts(rows) -> tuple[int, int, int, int]:
    unsupported = [flagged for c, flagged in rows if c["label"] == "unsupported"]
    supported = [flagged for c, flagged in rows if c["label"] == "supported"]
    return sum(unsupported), len(unsupported), sum(supported), len(supported)


def test_dev_split_counts_are_pinned():
    assert set(DEV_COUNTS) == set(DEV)
    assert {split: _counts(_run(split)) for split in DEV} == DEV_COUNTS


@pytest.mark.xfail(strict=True, reason="the dev pool (dev..dev-17) is 1052/1430 caught (73.6%, under the 90% "
                   "goal) and 23/1418 flagged (1.6%) by default: evidence strength flags only hard evidence alone "
                   "(held out, run once each: heldout-10 66/100 caught, 5/100 flagged; heldout-11 61/100, 3/100; "
                   "heldout-12 71/100, 8/100; heldout-13 65/100, 6/100; heldout-14 56/100, 12/100; heldout-15 58/100, "
                   "16/100; heldout-16 70/100, 7/100; heldout-9, "
                   "before it, had 79/100 and 21/100); docs/grounding.md, "
                   "'Evidence strength'")
def test_dev_split_figures():
    caught, flagged = _rates([row for split in DEV for row in _run(split)])
    assert caught >= 0.9 and flagged <= 0.05, (caught, flagged)


WAITING = pytest.mark.xfail(strict=False, reason="no held-out split: heldout-16 is dev-17 now, and heldout-17 is "
                            "written and run once, in both modes, after the next round's detector changes are committed")


@WAITING
def test_heldout_catches_at_least_90_percent_of_unsupported_answers():
    assert HELDOUT is not None
    caught, _ = _rates(_run(HELDOUT))
    assert caught >= 0.9, caught


@WAITING
def test_heldout_flags_at_most_5_percent_of_supported_answers():
    assert HELDOUT is not None
    _, flagged = _rates(_run(HELDOUT))
    assert flagged <= 0.05, flagged


# ---- the language --------------------------------------------------------------------

POLICY = '''policy "g" version "1.0.0"
pattern citation = /\\[[\\w.-]+\\]/
output {
  rule not-grounded: deny "Not supported by the sources" when not grounded(min_share=0.5)
  rule number-off: escalate to review "A figure the sources do not give"
      when ungrounded(number_mismatch, missing_number)
  rule bad-citation: redact pattern citation when ungrounded(bad_citation)
  rule low: warn "Partly grounded" when grounding() < 1
}
'''


@pytest.fixture(scope="module")
def engine():
    return Engine.from_source(POLICY)


def test_a_number_mismatch_escalates_with_its_span(engine):
    text = "Refunds are accepted within 30 days. The deductible is $1,500 per person."
    d = engine.check_output(text, sources=[s.to_json() for s in SOURCES])
    assert d.outcome is Outcome.ESCALATE and d.route == "review"
    by_rule = {v.rule: v for v in d.violations}
    assert set(by_rule) == {"number-off", "low"}
    (span,) = by_rule["number-off"].spans
    assert span.entity == "NUMBER_MISMATCH" and text[span.start:span.end].startswith("The deductible is $1,500")


def test_not_grounded_at_the_threshold_denies(engine):
    d = engine.check_output("Refunds take 90 days. Dental care costs $40.", sources=["Refunds take 30 days."])
    assert d.outcome is Outcome.DENY and [v.rule for v in d.violations if v.effect == "deny"] == ["not-grounded"]
    # nothing hard to check in the second claim: unverified, counted as supported (1 of 2, at the threshold)
    d = engine.check_output("Refunds take 90 days. Dental care is covered.", sources=["Refunds take 30 days."])
    assert d.outcome is Outcome.ESCALATE and "not-grounded" not in {v.rule for v in d.violations}


STRICT_POLICY = """policy "s" version "1.0.0"
output {
  rule strict-share: deny "Not supported" when not grounded(min_share=0.6, strict=1)
  rule new-words: warn "Words the sources do not use" when ungrounded(unsupported)
  rule share: warn "Share" when grounding(strict=1) < 1
  rule default-share: warn "Hard evidence" when not grounded()
}
"""


def test_the_content_check_is_opt_in_by_strict_or_by_naming_unsupported():
    strict = Engine.from_source(STRICT_POLICY)
    d = strict.check_output("Refunds take 30 days. Dental care is covered.", sources=["Refunds take 30 days."])
    assert d.outcome is Outcome.DENY
    assert {v.rule for v in d.violations} == {"strict-share", "new-words", "share"}  # the default check passes it
    (span,) = next(v for v in d.violations if v.rule == "new-words").spans
    assert span.entity == "UNSUPPORTED"
    with pytest.raises(PolicyError):
        Engine.from_source('policy "p" version "1.0.0"\noutput { rule r: deny "x" when grounded(strict=2) }\n')


def test_a_fabricated_citation_is_redacted(engine):
    text = "Refunds are accepted within 30 days of purchase. Dental care is not covered by the Basic plan [7]."
    d = engine.check_output(text, sources=[SOURCES[0].text])
    assert d.outcome is Outcome.REDACT
    assert d.text == "Refunds are accepted within 30 days of purchase. Dental care is not covered by the Basic plan <CITATION>."


def test_a_grounded_answer_passes(engine):
    d = engine.check_output("Refunds are accepted within thirty days of purchase [1].", sources=[SOURCES[0].text])
    assert d.outcome is Outcome.ALLOW and d.violations == []


def test_no_sources_fails_the_rule_closed_and_bad_sources_are_an_invalid_request(engine):
    d = engine.check_output("Refunds are accepted within 30 days.")
    assert d.outcome is Outcome.DENY and {e.code for e in d.errors} == {"missing-attribute"}
    bad = engine.check_output("x", sources=[{"id": "a", "text": 3}])
    assert bad.outcome is Outcome.DENY and bad.errors[0].code == "invalid-request"
    assert "sources[0] needs a string 'text'" in bad.errors[0].message
    dup = engine.check("output", {"text": "x", "sources": [{"id": "a", "text": "1"}, {"id": "a", "text": "2"}]})
    assert "repeats the id 'a'" in dup.errors[0].message


def test_a_session_s_retrieved_chunks_are_the_sources_of_its_answer(engine):
    engine.reset_state()
    engine.check_retrieval([{"text": "Refunds are accepted within 30 days of purchase."}], session="run-1")
    assert engine.check_output("Refunds are accepted within 30 days.", session="run-1").outcome is Outcome.ALLOW
    wrong = engine.check_output("Refunds are accepted within 60 days.", session="run-1")
    assert wrong.outcome is Outcome.DENY and "not-grounded" in {v.rule for v in wrong.violations}
    other = engine.check_output("Refunds are accepted within 30 days.", session="run-2")
    assert other.outcome is Outcome.DENY  # another session retrieved nothing


@pytest.mark.parametrize("source, code, message", [
    ('input { rule r: deny "x" when not grounded() }', "E303", "available in the output stage, not in input"),
    ('output { rule r: deny "x" when ungrounded(number_missmatch) }', "E102", "unknown grounding reason"),
    ('output { rule r: deny "x" when grounded(min_share=2) }', "E302", "min_share is a number between 0 and 1"),
])
def test_static_errors(source, code, message):
    with pytest.raises(PolicyError) as info:
        Engine.from_source(f'policy "p" version "1.0.0"\n{source}\n')
    assert any(d.code == code and message in d.message for d in info.value.diagnostics), info.value.diagnostics


# ---- the NLI backend -------------------------------------------------------------------

class OverlapNli:
    """A small local stand-in for an NLI model: entailed when every word of
    the hypothesis longer than three letters, or a listed synonym, is in the
    premise. It counts its calls."""

    digest = "stand-in-1"
    SYNONYMS: ClassVar[dict[str, str]] = {"customers": "purchase"}

    def __init__(self, fixed=None):
        self.calls = []
        self.fixed = fixed  # a function giving every answer, for a model that never entails

    def entails(self, premise: str, hypothesis: str) -> float:
        self.calls.append((premise, hypothesis))
        if self.fixed is not None:
            return self.fixed()
        words = [w.strip(".,").lower() for w in hypothesis.split() if len(w.strip(".,")) > 3]
        p = premise.lower()
        return 1.0 if all(w in p or self.SYNONYMS.get(w, "\0") in p for w in words) else 0.0


def test_a_backend_judges_a_paraphrase_the_words_miss_and_never_a_number():
    paraphrase = "Customers can get a refund within 30 days."
    assert check_grounding(paraphrase, SOURCES[:1]).unsupported == ()  # no hard evidence against it
    without = check_grounding(paraphrase, SOURCES[:1], strict=True)
    assert [u.reason for u in without.unsupported] == ["unsupported"]
    assert [u.reason for u in check_grounding(paraphrase, SOURCES[:1], OverlapNli(lambda: 0.0)).unsupported] \
        == ["unsupported"]  # a backend turns the content check on, and judges what it flags
    nli = OverlapNli()
    assert check_grounding(paraphrase, SOURCES[:1], nli).unsupported == ()
    assert nli.calls and nli.calls[0][0] == SOURCES[0].text
    nli.calls.clear()
    wrong = check_grounding("Customers can get a refund within 90 days.", SOURCES[:1], nli)
    assert [u.reason for u in wrong.unsupported] == ["number_mismatch"] and nli.calls == []


def test_the_engine_loads_a_backend_by_module_factory_and_refuses_a_bad_one(tmp_path, monkeypatch):
    (tmp_path / "my_nli.py").write_text(
        "class M:\n    digest = 'd1'\n    def entails(self, p, h):\n        return 1.0\n"
        "def load():\n    return M()\ndef broken():\n    return object()\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    e = Engine.from_source(POLICY, grounding_model="my_nli:load")
    d = e.check_output("Purchases can be returned for a refund within 30 days.", sources=[SOURCES[0].text])
    assert d.outcome is Outcome.ALLOW
    from guardrails.diagnostics import GuardrailsError
    with pytest.raises(GuardrailsError, match="has no entails"):
        Engine.from_source(POLICY, grounding_model="my_nli:broken")


def test_a_backend_that_fails_fails_the_rule():
    class Boom:
        digest = "boom"

        def entails(self, premise, hypothesis):
            raise RuntimeError("model crashed")

    e = Engine.from_source(POLICY, grounding_model=Boom())
    d = e.check_output("Customers can get a refund within 30 days.", sources=[SOURCES[0].text])
    assert d.outcome is Outcome.DENY and {x.code for x in d.errors} == {"detector-failed"}


# ---- the CLI -------------------------------------------------------------------------

def test_guardrails_eval_takes_the_answer_s_sources_from_a_file(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    src = tmp_path / "sources.json"
    src.write_text('[{"id": "kb-1", "text": "Refunds are accepted within 30 days of purchase."}]', encoding="utf-8")

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "guardrails.cli", "eval", str(root / "policies"), "--policy",
                               "rag-search", "--format", "json", *extra], check=False, capture_output=True,
                              text=True, timeout=120)

    denied = run("--stage", "output", "--text", "The refund window is 90 days.", "--sources", str(src))
    assert '"outcome":"deny"' in denied.stdout and "NUMBER_MISMATCH" in denied.stdout, denied.stderr
    wrong_stage = run("--stage", "input", "--text", "x", "--sources", str(src))
    assert wrong_stage.returncode == 2 and "--sources works with --stage output" in wrong_stage.stderr


def test_every_answer_is_grounded_in_itself():
    """An answer checked against itself as its only source is supported
    (its citations removed: they name sources by id). The red team sends
    answers so; "The 3D printer ..." once failed, its "3" read as a
    quantity and the "D" left over as a name no source had."""
    import re

    answers = ["The 3D printer needs a new nozzle.", "Use the h264 codec at T5 speed, bay B12.",
               # benign red-team lines (a name before a code's figure was read as "Commit 9"; brackets
               # after a word read as a citation)
               "password = Optional[str]", "Commit 9f2c4e1 fixed the token refresh bug.",
               "Version 3.12.1 fixed the crash on start-up.", "Enable 2FA on every admin account."]
    for split in _splits():
        data = yaml.safe_load((CORPUS / f"{split}.yaml").read_text(encoding="utf-8"))
        answers += [re.sub(r"\s*(?<!\w)\[[\w.-]{1,40}\]", "", c["answer"]) for c in data["cases"]]
    assert len(answers) > 150
    for a in answers:
        sources, _ = read_sources([a])
        assert not check_grounding(a, sources).unsupported, a
