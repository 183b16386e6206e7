"""Blame language: the one place that lists it. The post-mortem editor marks these as a gentle
hint and suggests describing the conditions and the system instead; nothing here ever blocks a save.

Each pattern is a regular expression that works the same in Python and in the browser's
JavaScript (no look-behind, no named groups), matched case-insensitively unless it says otherwise.
"""

import re
from dataclasses import dataclass

SUGGESTION = (
    "Describe the conditions and the system rather than a person: what made this easy to get "
    "wrong, and what would have caught it?"
)

PHRASES: list[tuple[str, str]] = [
    (r"\bshould(?: have|['’]ve)\b", "“Should have” judges with hindsight. What did the person know at the time?"),
    (
        r"\bshouldn['’]t(?: have|['’]ve)\b",
        "“Shouldn't have” judges with hindsight. What did the person know at the time?",
    ),
    (r"\bcareless(ly|ness)?\b", "“Careless” blames a person. What made the mistake easy to make?"),
    (r"\bhuman error\b", "“Human error” is where the investigation starts, not where it ends."),
    (r"\bfault\b(?!-)", "“Fault” looks for someone to blame. Which conditions contributed?"),
    (r"\bfailed to\b", "“Failed to” points at a person. What in the system let this go unnoticed?"),
    (r"\bnegligen(t|ce)\b", "“Negligence” blames a person. What made the safe path hard?"),
    (r"\bblame[sd]?\b", "Post-mortems look for causes in the system, not for someone to blame."),
    (r"\bsloppy\b", "“Sloppy” blames a person. What would have caught this?"),
    (r"\bincompeten(t|ce)\b", "Describe what the system made hard, not a person's ability."),
    (r"\bforgot to\b", "“Forgot to” points at a person. Could the system remember instead?"),
    (r"\b(obviously|clearly)\b", "“Obviously” is hindsight: it wasn't obvious at the time."),
    (r"\bjust (had|needed) to\b", "“Just had to” makes the work sound trivial in hindsight."),
]

# A person's name (a capitalised word) as the subject of a failure: "Bob should have", "Alice broke".
# Case-sensitive, so it only fires on a capitalised name.
NAME_AS_SUBJECT = (
    r"\b[A-Z][a-z]*(?:['’][A-Z][a-z]+)? (should have|should['’]ve|shouldn['’]t have|failed to|forgot|broke|didn['’]t|did not|neglected|"
    r"missed|messed up|screwed up|caused)\b",
    "A person as the subject of a failure. Try the system as the subject: what allowed it?",
)
# Capitalised words that begin sentences about the system, not people.
NOT_NAMES = {"The", "This", "That", "It", "We", "They", "Nobody", "Nothing", "Monitoring", "Deploy", "There"}


@dataclass(frozen=True)
class Hint:
    start: int
    end: int
    text: str
    message: str


def find_blame(text: str) -> list[Hint]:
    """The blame language in `text`, in order of appearance."""
    hints = []
    for pattern, message in PHRASES:
        for match in re.finditer(pattern, text, flags=re.IGNORECASE):
            hints.append(Hint(match.start(), match.end(), match.group(0), message))
    pattern, message = NAME_AS_SUBJECT
    for match in re.finditer(pattern, text):
        if match.group(0).split(" ", 1)[0] not in NOT_NAMES:
            hints.append(Hint(match.start(), match.end(), match.group(0), message))
    return sorted(hints, key=lambda hint: (hint.start, -hint.end))


def patterns_for_browser() -> dict:
    """The same rules, for the editor's script (json_script)."""
    return {
        "phrases": [{"pattern": pattern, "message": message, "flags": "gi"} for pattern, message in PHRASES],
        "name_as_subject": {"pattern": NAME_AS_SUBJECT[0], "message": NAME_AS_SUBJECT[1], "flags": "g"},
        "not_names": sorted(NOT_NAMES),
        "suggestion": SUGGESTION,
    }
