"""postmortems.blame: the blame language the post-mortem editor marks, as a hint that never blocks."""

import re

import pytest

from postmortems.blame import NAME_AS_SUBJECT, NOT_NAMES, PHRASES, find_blame, patterns_for_browser

# A sentence for each phrase in postmortems.blame.PHRASES. A phrase added there without an example
# here fails test_every_phrase_has_an_example.
EXAMPLES = {
    r"\bshould(?: have|['’]ve)\b": "The on-call engineer should’ve noticed the alert.",
    r"\bshouldn['’]t(?: have|['’]ve)\b": "The migration shouldn't have run at peak time.",
    r"\bcareless(ly|ness)?\b": "A careless change to the config.",
    r"\bhuman error\b": "Root cause: human error.",
    r"\bfault\b(?!-)": "It was the release manager's fault.",
    r"\bfailed to\b": "The deployer failed to run the smoke tests.",
    r"\bnegligen(t|ce)\b": "This was negligent.",
    r"\bblame[sd]?\b": "Nobody is to blame, but the team blamed the vendor.",
    r"\bsloppy\b": "Sloppy review let it through.",
    r"\bincompeten(t|ce)\b": "An incompetent rollout.",
    r"\bforgot to\b": "The author forgot to update the schema.",
    r"\b(obviously|clearly)\b": "Obviously the cache had to be warmed first.",
    r"\bjust (had|needed) to\b": "Someone just had to restart the worker.",
}


def test_every_phrase_has_an_example():
    assert {pattern for pattern, _ in PHRASES} == set(EXAMPLES)


@pytest.mark.parametrize(("pattern", "message"), PHRASES, ids=[p for p, _ in PHRASES])
def test_each_phrase_is_found_with_its_message(pattern, message):
    text = EXAMPLES[pattern]

    hints = find_blame(text)

    matching = [hint for hint in hints if hint.message == message]
    assert matching, hints
    hint = matching[0]
    assert text[hint.start : hint.end] == hint.text
    assert re.fullmatch(pattern, hint.text, flags=re.IGNORECASE)


@pytest.mark.parametrize(
    "text",
    ["SHOULD HAVE", "Should Have", "human ERROR", "Carelessly", "carelessness", "Blames", "negligence", "Clearly"],
)
def test_phrases_match_in_any_case(text):
    assert find_blame(text)


def test_a_name_as_the_subject_of_a_failure_is_found():
    hints = find_blame("Bob should have checked the config.")

    name_hints = [hint for hint in hints if hint.message == NAME_AS_SUBJECT[1]]
    assert [(h.start, h.end, h.text) for h in name_hints] == [(0, 15, "Bob should have")]
    # The phrase itself is marked too, and the longer match comes first.
    assert [h.text for h in hints] == ["Bob should have", "should have"]


@pytest.mark.parametrize(
    ("text", "name_part"),
    [
        ("Alice broke the build.", "Alice broke"),
        ("Then Priya missed the alert.", "Priya missed"),
        ("Dave didn't roll back.", "Dave didn't"),
        ("Jo caused the outage.", "Jo caused"),
    ],
)
def test_other_failures_with_a_name_as_subject(text, name_part):
    assert name_part in [hint.text for hint in find_blame(text) if hint.message == NAME_AS_SUBJECT[1]]


@pytest.mark.parametrize(
    "text",
    [
        "The deploy should be rolled back automatically.",
        "The deploy broke checkout for card payments.",
        "Monitoring missed the spike because the threshold was an hourly average.",
        "It didn't page anyone: the rota was empty.",
        "We caused a cache stampede when the keys changed.",
    ],
)
def test_the_system_as_subject_is_not_a_name(text):
    assert [hint for hint in find_blame(text) if hint.message == NAME_AS_SUBJECT[1]] == []


def test_the_deploy_should_be_is_not_blame():
    assert find_blame("The deploy should be") == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Checkout returned 502 for 40 minutes after the cache keys changed.",
        "The alert fired at 22:31; the rollback finished at 22:52.",
        "The default timeout was 30 seconds, longer than the load balancer's.",
        "Nothing in the runbook covered a cold cache.\n\n- Add a warm-up step\n- Page on 502s",
    ],
)
def test_sentences_without_blame_give_nothing(text):
    assert find_blame(text) == []


def test_a_lower_case_name_is_not_taken_for_a_name_but_the_phrase_is_still_found():
    hints = find_blame("bob should have checked")

    assert [h.text for h in hints] == ["should have"]


def test_hints_come_in_the_order_they_appear():
    text = "Clearly human error. Alice forgot to check, and it was her fault."

    hints = find_blame(text)

    assert [h.start for h in hints] == sorted(h.start for h in hints)
    assert [h.text for h in hints] == ["Clearly", "human error", "Alice forgot", "forgot to", "fault"]


def test_finding_blame_is_only_a_hint_it_never_raises_on_odd_text():
    odd = "\x00\u202e" + "should have " * 1000 + "🙂" * 100

    assert len(find_blame(odd)) == 1000


def test_the_browser_gets_the_same_rules():
    rules = patterns_for_browser()

    assert [(p["pattern"], p["message"]) for p in rules["phrases"]] == PHRASES
    assert all(p["flags"] == "gi" for p in rules["phrases"])
    assert (rules["name_as_subject"]["pattern"], rules["name_as_subject"]["flags"]) == (NAME_AS_SUBJECT[0], "g")
    assert rules["not_names"] == sorted(NOT_NAMES)
    # Patterns the browser's JavaScript can't run: look-behind and named groups.
    for pattern in [p for p, _ in PHRASES] + [NAME_AS_SUBJECT[0]]:
        assert "(?<" not in pattern and "(?P" not in pattern


def test_fault_tolerant_is_not_blame():
    assert find_blame("The queue is fault-tolerant.") == []


def test_a_name_with_an_apostrophe_is_marked_whole():
    assert [h.text for h in find_blame("O'Brien should have checked.") if "Brien" in h.text] == ["O'Brien should have"]
