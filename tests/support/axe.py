"""axe-core in the browser tests: the WCAG 2.1 A and AA rules, run on the page as it is.

axe-core comes from npm, pinned in the Makefile (`make axe-core` installs it into .cache/axe-core;
`make test` and CI run it). Its script is put into the page as an inline script, which the app's
CSP (`script-src 'self'`) refuses: the context that runs it is opened with `bypass_csp=True`, for
these checks only.
"""

import os
from pathlib import Path

import pytest

AXE_SCRIPT = Path(__file__).resolve().parents[2] / ".cache/axe-core/node_modules/axe-core/axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# What has to be fixed before anything ships; "moderate" and "minor" are reported by axe but not failed on.
FAILING_IMPACTS = ("serious", "critical")


def axe_script() -> Path:
    if not AXE_SCRIPT.exists():
        reason = f"{AXE_SCRIPT} is missing: run `make axe-core` (needs npm)"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the accessibility checks", pytrace=False)
        pytest.skip(reason)
    return AXE_SCRIPT


def axe_violations(page) -> list[str]:
    """The serious and critical WCAG 2.1 A/AA violations on `page`, one line per element:
    "<rule id> (<impact>) at <selector>: <what to fix>"."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script()))
    results = page.evaluate(
        """tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})""",
        WCAG_TAGS,
    )
    found = []
    for violation in results["violations"]:
        if violation["impact"] not in FAILING_IMPACTS:
            continue
        for node in violation["nodes"]:
            target = " ".join(str(part) for part in node["target"])
            summary = " ".join((node.get("failureSummary") or violation["help"]).split())
            found.append(f"{violation['id']} ({violation['impact']}) at {target}: {summary}")
    return found


def axe_violations_at_widths(page, where: str, widths) -> list[str]:
    """axe at each viewport width (the layout follows without a reload), each violation once:
    "<where> at <widths> px: <rule id> (<impact>) at <selector>: <what to fix>"."""
    seen: dict[str, list[int]] = {}
    for width in widths:
        page.set_viewport_size({"width": width, "height": 900})
        for line in axe_violations(page):
            seen.setdefault(line, []).append(width)
    return [f"{where} at {', '.join(map(str, at))} px: {line}" for line, at in seen.items()]
