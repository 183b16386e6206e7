"""JSON from outside (API bodies, webhook deliveries, a form's hidden state), read with limits.

Python's json module recurses once per level of nesting, so `[` × 5,000 is a RecursionError (a 500)
rather than a ValueError; and it turns a lone surrogate escape (`"\\ud800"`) into a str that can't
be encoded as UTF-8, which fails later and far away (a page that shows it, the database). `loads`
refuses both up front, with a message saying what and where, at about the cost of parsing.
"""

import json
import re
from itertools import accumulate

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.settings import api_settings
from rest_framework.utils.json import strict_constant

# Deeper than any payload Opslog takes (a GitHub push nests 5 levels), shallow enough that nothing
# that walks a payload can run out of stack.
MAX_DEPTH = 64

_NOT_BRACKETS = bytes(set(range(256)) - set(b"[]{}"))
# Opening brackets count +1, closing ones -1 (indexed by code point: map() then stays in C).
_STEP = [0] * 126
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
_CHUNK = 1 << 16
# Only a `\uD800`–`\uDFFF` escape can make a surrogate: UTF-8 text can't hold one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JSONInputError(ValueError):
    """The text is not JSON Opslog reads; the message says why (and where) for a person."""


def too_deep(text: str) -> bool:
    """Whether the brackets outside strings nest deeper than MAX_DEPTH. Linear, and in C loops:
    escaped backslashes and quotes go first (in a JSON string a backslash escapes the one character
    after it, left to right), then every other piece between quotes is a string's inside; of the
    rest only the brackets are kept, and counted +1 and -1. Text that isn't JSON gets some answer;
    its parser refuses it anyway."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    outside = "".join(unescaped.split('"')[::2])
    # UTF-8 never uses an ASCII byte inside a multi-byte character: only real brackets are kept.
    brackets = outside.encode("utf-8", "surrogatepass").translate(None, _NOT_BRACKETS)
    # By chunks, so a body deeper than the limit is refused after its first chunk.
    level = 0
    for start in range(0, len(brackets), _CHUNK):
        chunk = brackets[start : start + _CHUNK]
        if max(accumulate(map(_STEP.__getitem__, chunk), initial=level)) > MAX_DEPTH:
            return True
        level += chunk.count(b"[") + chunk.count(b"{") - chunk.count(b"]") - chunk.count(b"}")
    return False


def surrogate_at(value) -> str | None:
    """Where the first lone surrogate is in a parsed value (`alerts.0.labels.team`, "" for the
    value itself), or None. Pairs were joined by the parser: what is left is lone."""
    stack = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                where = f"{path}.{key}" if path else key
                if _SURROGATE.search(key):
                    return where  # the key itself
                stack.append((child, where))
        elif isinstance(item, list):
            stack.extend((child, f"{path}.{index}" if path else str(index)) for index, child in enumerate(item))
    return None


def loads(text: str | bytes, **kwargs):
    """json.loads, refusing with JSONInputError (a ValueError, as json's own errors are) JSON nested
    deeper than MAX_DEPTH or holding a lone surrogate. `kwargs` go to json.loads."""
    if isinstance(text, bytes | bytearray):
        text = text.decode("utf-8")
    if too_deep(text):
        raise JSONInputError(f"JSON nested deeper than {MAX_DEPTH} levels.")
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:  # not expected after too_deep; never a 500 if it ever happens
        raise JSONInputError(f"JSON nested deeper than {MAX_DEPTH} levels.") from None
    if _SURROGATE_ESCAPE.search(text):
        where = surrogate_at(value)
        if where is not None:
            place = f" at {printable(where)[:200]}" if where else ""
            raise JSONInputError(f"JSON string{place} has a lone surrogate (\\ud800-\\udfff), which is not text.")
    return value


def printable(text: str) -> str:
    """Text as a page can show it: what UTF-8 can't encode (a lone surrogate stored before these
    checks) as its `\\ud800` escape instead of an error."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser through `loads`: too deep or a lone surrogate is a 400 saying so."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding") or "utf-8"
        try:
            text = stream.read().decode(encoding)
            return loads(text, parse_constant=strict_constant if api_settings.STRICT_JSON else None)
        except JSONInputError as exc:
            raise ParseError(str(exc)) from None
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors too
            raise ParseError(f"JSON parse error - {exc}") from None
