"""Markdown shaped to make a renderer slow (#14.1), and prose of the same length to compare with.
Shared by tests/security/test_markdown.py and bench/markdown.py."""

import time


def repeat(unit: str, length: int) -> str:
    return (unit * (length // len(unit) + 1))[:length]


def _nested_list(length: int) -> str:
    lines, depth = [], 0
    while sum(map(len, lines)) < length:
        lines.append("  " * (depth % 200) + "- item\n")
        depth += 1
    return "".join(lines)[:length]


def _wide_table(length: int) -> str:
    header = "|" + "a|" * 1000 + "\n|" + "-|" * 1000 + "\n"
    return header + repeat("x\n", length - len(header))


# Each a run of what makes a Markdown renderer backtrack, rescan or nest: Python-Markdown spent
# 13 s on 10,000 "[".
PATTERNS = {
    "[": lambda n: repeat("[", n),
    "[*": lambda n: repeat("[*", n),
    "![": lambda n: repeat("![", n),
    "<": lambda n: repeat("<", n),
    "*": lambda n: repeat("*", n),
    "_": lambda n: repeat("_", n),
    "*a": lambda n: repeat("*a", n),
    "a_": lambda n: repeat("a_", n),
    "backticks": lambda n: repeat("`", n),
    "backtick runs": lambda n: repeat("`a``b```", n),
    ">": lambda n: repeat(">", n),
    "> > nested quotes": lambda n: repeat("> ", n),
    "nested list": _nested_list,
    "- - nested list on a line": lambda n: repeat("- ", n - 1) + "x",
    "unclosed link": lambda n: repeat("[a](", n),
    "unclosed reference": lambda n: repeat("[a][", n),
    "reference definitions": lambda n: repeat("[x]: /u\n[x]\n", n),
    "](": lambda n: repeat("](", n),
    "entities": lambda n: repeat("&amp;", n),
    "numeric entities": lambda n: repeat("&#x", n),
    "html comment openers": lambda n: repeat("<!--", n),
    "nested <div>": lambda n: repeat("<div>", n),
    "<span> then </div>": lambda n: repeat("<span>", n // 2) + repeat("</div>", n - n // 2),
    "wide table": _wide_table,
    "~~a": lambda n: repeat("~~a", n),
    "mix": lambda n: repeat("[*_`<!>&", n),
    "tracker keys": lambda n: repeat("OPS-1 ", n),
    # Bare URLs and addresses are links (#15.15): the autolink extension's scans, and its growth.
    "bare URLs": lambda n: repeat("http://a ", n),
    "_@": lambda n: repeat("_@", n),
    # Every line break kept (#15.15): a <br> each.
    "line breaks": lambda n: repeat("a\n", n),
}

_PLAIN = "The deploy went out at noon and checkout latency rose for twenty minutes before the rollback. "
_WRITE_UP = (
    "## Timeline\n\nAt 14:02 UTC the **checkout** service began returning `502` errors after deploy "
    "[25145](https://deploys.example.com/25145); see OPS-123 and the _runbook_.\n\n"
    "- rolled back at 14:20\n- error rate fell to 0.1 %\n\n| step | time |\n|---|---|\n| detect | 3 min |\n\n"
    "```\nkubectl rollout undo deploy/checkout\n```\n\n> Nobody was paged for the first ten minutes.\n\n"
)


def plain_prose(length: int) -> str:
    """Sentences and nothing else."""
    return repeat(_PLAIN, length)


def write_up(length: int) -> str:
    """A post-mortem as people write one: headings, emphasis, links, lists, a table, code, quotes."""
    return repeat(_WRITE_UP, length)


def best_times(*functions, repeats: int = 5) -> list[float]:
    """The fastest of a few runs of each function, run in turns: a burst of other work on the machine
    (CI runs beside other jobs) then slows the baseline and the case alike, and the ratio holds."""
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for index, function in enumerate(functions):
            started = time.perf_counter()
            function()
            best[index] = min(best[index], time.perf_counter() - started)
    return best


def best_time(function, *, repeats: int = 3) -> float:
    """The fastest of a few runs, in seconds: the least disturbed by other work on the machine."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - started)
    return best
