"""Markup that must never come out live: the Markdown XSS vectors, a check that a page runs no
script, and every vector in one text (XSS) to put in any field a page shows."""

import re
from html.parser import HTMLParser

VECTORS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](  javascript:alert(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '<iframe src="https://evil.example"></iframe>',
    "<body onload=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>",
    '<object data="javascript:alert(1)"></object>',
    '<embed src="javascript:alert(1)">',
    '<form action="javascript:alert(1)"><button>x</button></form>',
    "<input autofocus onfocus=alert(1)>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<base href="javascript:alert(1)//">',
    '<link rel=stylesheet href="javascript:alert(1)">',
    '<a href="vbscript:msgbox(1)">x</a>',
    "[x](vbscript:msgbox(1))",
    "<scr<script>ipt>alert(1)</scr</script>ipt>",
    "<<script>script>alert(1)<</script>/script>",
    '<img src="x" onerror="alert(1)"/>',
    '<p title="</p><script>alert(1)</script>">x</p>',
    "`<script>alert(1)</script>`",
    "    <script>alert(1)</script>",
]

DANGEROUS = re.compile(
    r"<script|<iframe|<object|<embed|<form|<svg|<meta|<base|<link|<style|\son\w+\s*=|javascript:|vbscript:|data:", re.I
)


class _LiveMarkup(HTMLParser):
    """Collects markup that could run script: a <script> that is neither a static file nor
    json_script data, event handler attributes, style attributes, javascript:/vbscript:/data: URLs,
    and elements that have no business in these pages."""

    URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "xlink:href", "poster", "background"}
    FORBIDDEN = {"iframe", "object", "embed", "base", "svg", "math", "style", "frame", "frameset", "applet"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script" and not (
            (values.get("src") or "").startswith("/static/") or values.get("type") == "application/json"
        ):
            self.problems.append(f"<script {attrs}>")
        if tag in self.FORBIDDEN:
            self.problems.append(f"<{tag}>")
        if tag == "meta" and "http-equiv" in values:
            self.problems.append("<meta http-equiv>")
        if tag == "link" and not (values.get("href") or "").startswith("/static/"):
            self.problems.append(f"<link {attrs}>")
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name in self.URL_ATTRIBUTES and value:
                squeezed = re.sub(r"[\x00-\x20]", "", value).lower()
                if squeezed.startswith(("javascript:", "vbscript:", "data:")):
                    self.problems.append(f"<{tag} {name}={value!r}>")

    handle_startendtag = handle_starttag


def assert_no_live_script(html: str) -> None:
    parser = _LiveMarkup()
    parser.feed(html)
    parser.close()
    assert not parser.problems, parser.problems


XSS = "\n\n".join(VECTORS)
