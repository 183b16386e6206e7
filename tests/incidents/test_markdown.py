import re

import pytest

from incidents.markdown import render_markdown
from incidents.templatetags.opslog import duration

VECTORS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    "<a href=\"javascript:alert(1)\">x</a>",
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "<iframe src=\"https://evil.example\"></iframe>",
    "<body onload=alert(1)>",
    "<div style=\"background:url(javascript:alert(1))\">x</div>",
    "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>",
    "<object data=\"javascript:alert(1)\"></object>",
    "<embed src=\"javascript:alert(1)\">",
    "<form action=\"javascript:alert(1)\"><button>x</button></form>",
    "<input autofocus onfocus=alert(1)>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<base href=\"javascript:alert(1)//\">",
    "<link rel=stylesheet href=\"javascript:alert(1)\">",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "[x](vbscript:msgbox(1))",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<<script>script>alert(1)<</script>/script>",
    "<img src=\"x\" onerror=\"alert(1)\"/>",
    "<p title=\"</p><script>alert(1)</script>\">x</p>",
    "`<script>alert(1)</script>`",
    "    <script>alert(1)</script>",
]

DANGEROUS = re.compile(r"<script|<iframe|<object|<embed|<form|<svg|<meta|<base|<link|<style|\son\w+\s*=|javascript:|vbscript:|data:", re.I)


@pytest.mark.parametrize("vector", VECTORS)
def test_no_script_handler_or_dangerous_url_survives(vector):
    html = render_markdown(vector)

    # Escaped text (&lt;script&gt;) is harmless; live markup is not.
    assert not DANGEROUS.search(html), html


def test_ordinary_markdown_still_renders():
    html = render_markdown("**Impact:** checkout\n\n- one\n- two\n\n[runbook](https://wiki.example.com/run)")

    assert "<strong>Impact:</strong>" in html
    assert "<li>one</li>" in html
    assert 'href="https://wiki.example.com/run"' in html
    assert 'rel="noopener noreferrer nofollow"' in html


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "—"), (45, "45 s"), (89.5, "89.5 s"), (390, "6.5 min"), (360, "6 min"), (7500, "2 h 5 min"),
     (7200, "2 h"), (3.2 * 86400, "3.2 days")],
)
def test_durations_read_like_people_write_them(seconds, text):
    assert duration(seconds) == text
