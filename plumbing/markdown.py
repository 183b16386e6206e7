"""Markdown for people's write-ups, made safe to show: no script ever reaches the page, and no
input, however shaped, makes rendering slow.

The renderer is cmark-gfm (GitHub's CommonMark, through the `cmarkgfm` bindings PyPI uses for
READMEs): it is built and fuzzed to run in time linear in its input, pathological inputs included.
Python-Markdown, used before, is quadratic on runs of `[`, `[*`, `![`, unclosed links and
references, and its inline patterns can't be swapped for linear ones through its extension points
(the link and reference patterns are its core). The sanitizer, nh3 (html5ever), is quadratic in
the nesting depth of block elements, so HTML nested deeper than MAX_NESTING never reaches it.
"""

import re
from html import escape as html_escape
from urllib.parse import quote

import cmarkgfm
import nh3
from cmarkgfm.cmark import Options
from django.conf import settings
from django.core.validators import MaxLengthValidator
from django.utils.html import escape

ALLOWED_SCHEMES = {"http", "https", "mailto"}
# No images: a remote image in a write-up is a tracking pixel for whoever wrote it.
ALLOWED_TAGS = nh3.ALLOWED_TAGS - {"img"}
# GitHub's tables, strikethrough and bare-URL autolinks (a pasted dashboard or status-page URL is a
# link, as on GitHub; the sanitizer still decides which schemes stay). Not its task lists (their
# checkboxes are form inputs the sanitizer drops) or tagfilter (raw HTML goes to the sanitizer,
# which removes what isn't allowed).
EXTENSIONS = ["table", "strikethrough", "autolink"]
# Raw HTML is passed on to nh3, which decides what stays. Hard breaks: every field is typed into a
# text box, often in a hurry ("- customers report…" under "Checkout down"), so a line break typed is
# a line break shown, as GitHub shows issues and comments. Post-mortem sections too: one rule for
# all text (a post-mortem's summary starts as the incident's), and its Markdown export reads the
# same in GitHub's comments.
OPTIONS = Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_HARDBREAKS
# html5ever, nh3's parser, walks its stack of open elements on many tags (a <div>, an <li>, any end
# tag it has no match for), so its time grows with the nesting depth times the number of tags:
# quadratic on 20,000 nested <div> or 7,000 <span> then 7,000 </div> (0.5 s). Deeper than any
# write-up nests quotes, lists or HTML, and shallow enough to keep that walk short.
MAX_NESTING = 100
# HTML more than this many times the size of its text is shown as the text: a page or an API list
# holding it would cost that many times more to send. A write-up's HTML is about twice its text;
# only text that is nothing but links, tracker keys or "&" (5x as "&amp;") comes near. (cmark-gfm
# alone would pad a wide table's one-character rows into megabytes of empty cells.)
MAX_GROWTH = 5
VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_TAG_NAME = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
# A tag as cmark-gfm writes them (attribute values may hold a ">"). Never across a "<": each try
# then ends at the next "<", which keeps the split linear on "<!--<!--…" with no ">" in sight.
_TAG = re.compile(r"""(<(?:[^<>"']|"[^"<]*"|'[^'<]*')*>)""")
_SKIP_OPEN = re.compile(r"<(a|code|pre)\b", re.IGNORECASE)
_SKIP_CLOSE = re.compile(r"</(a|code|pre)\s*>", re.IGNORECASE)

# Issue keys as Jira, Linear, YouTrack and others write them: OPS-123 — not inside a word or a URL.
TRACKER_KEY = re.compile(r"(?<![\w/.#-])([A-Z][A-Z0-9]{1,9})-(\d{1,7})\b(?!-)")
# Standards and encodings that look like keys.
NOT_TRACKER_PROJECTS = {
    "UTF",
    "ISO",
    "SHA",
    "HTTP",
    "CVE",
    "RFC",
    "TLS",
    "SSL",
    "MD",
    "UTC",
    "GMT",
    "IPV",
    "IEEE",
    "ECMA",
    "PEP",
    "X",
}


def tracker_url(key: str) -> str | None:
    template = settings.OPSLOG_TRACKER_URL
    return template.replace("{key}", quote(key)) if template else None


def _is_key(match: re.Match) -> bool:
    project = match.group(1)
    projects = settings.OPSLOG_TRACKER_PROJECTS
    return project in projects if projects else project not in NOT_TRACKER_PROJECTS


def _key_link(match: re.Match) -> str:
    if not _is_key(match):
        return match.group(0)
    return f'<a href="{escape(tracker_url(match.group(0)))}">{match.group(0)}</a>'


def _link_tracker_keys(html: str) -> str:
    """Tracker keys in the text of `html` made into links — never inside an existing link, code or
    preformatted text, so no anchor is nested and no author's URL rewritten. One pass over the tags."""
    parts = _TAG.split(html)
    skip = 0
    for index, part in enumerate(parts):
        if index % 2:  # a tag
            if _SKIP_OPEN.match(part):
                skip += 1
            elif _SKIP_CLOSE.match(part):
                skip = max(skip - 1, 0)
        elif part and not skip:
            parts[index] = TRACKER_KEY.sub(_key_link, part)
    return "".join(parts)


def _too_deep(html: str) -> bool:
    """Whether elements nest past MAX_NESTING. An end tag closes only the element opened last and
    is otherwise ignored, so this errs on the deep side whatever a browser would make of it."""
    stack: list[str] = []
    for match in _TAG_NAME.finditer(html):
        name = match.group(2).lower()
        if match.group(1):
            if stack and stack[-1] == name:
                stack.pop()
        elif name not in VOID_ELEMENTS:
            stack.append(name)
            if len(stack) > MAX_NESTING:
                return True
    return False


def _table_cells(text: str) -> int:
    """At least how many cells cmark-gfm would make of the tables in `text`: a table is a delimiter
    row ("|---|:-:|") and the lines up to the next blank one, each padded to the delimiter's width."""
    cells = columns = 0
    for line in text.split("\n"):
        stripped = line.strip()
        if columns:
            if not stripped:
                columns = 0
                continue
            cells += columns
        if "-" in stripped and "|" in stripped and not stripped.strip("|-: \t"):
            columns = max(columns, stripped.strip("|").count("|") + 1)
    return cells


def render_markdown(text: str) -> str:
    """HTML for `text`, sanitized with nh3 (scripts, event handlers, javascript: and data: URLs
    and images removed). Tracker keys such as OPS-123 become links when OPSLOG_TRACKER_URL is set.
    Time linear in the length of `text`: text nested deeper than MAX_NESTING, or whose HTML would be
    more than MAX_GROWTH times its size, is shown as written, in a <pre>."""
    text = text or ""
    extensions = EXTENSIONS
    if _table_cells(text) > len(text) + 1000:
        # Rows a character long under a wide header: cmark-gfm would write megabytes of empty cells.
        extensions = [name for name in EXTENSIONS if name != "table"]
    html = cmarkgfm.markdown_to_html_with_extensions(text, options=OPTIONS, extensions=extensions).rstrip("\n")
    if _too_big(html, text) or _too_deep(html):
        # Shown as written rather than fed to a sanitizer whose time would grow with its square.
        return _as_written(text)
    if settings.OPSLOG_TRACKER_URL:
        html = _link_tracker_keys(html)
    html = _clean(html)
    return _as_written(text) if _too_big(html, text) else html


def _too_big(html: str, text: str) -> bool:
    return len(html) > MAX_GROWTH * len(text) + 1000


def _as_written(text: str) -> str:
    # Only <, > and & need escaping in element text: the result is at most 5 times the text.
    return _clean(f"<pre>{html_escape(text, quote=False)}</pre>")


def _clean(html: str) -> str:
    return nh3.clean(html, tags=ALLOWED_TAGS, url_schemes=ALLOWED_SCHEMES, link_rel="noopener noreferrer nofollow")


def tracker_links(text: str) -> str:
    """Plain text with tracker keys made into links (escaped, sanitized HTML)."""
    escaped = escape(text or "")
    if not settings.OPSLOG_TRACKER_URL:
        return escaped

    def link(match: re.Match) -> str:
        if not _is_key(match):
            return match.group(0)
        url = escape(tracker_url(match.group(0)))
        return f'<a href="{url}" rel="noopener noreferrer nofollow">{match.group(0)}</a>'

    return TRACKER_KEY.sub(link, escaped)


# How long each Markdown field may be, in characters: one place for the API, the forms, the
# services and alert promotion. Long enough for any real write-up (the longest post-mortem section
# in the demo data is under 3,000); a limit keeps the stored HTML, and a render, small.
INCIDENT_SUMMARY_MAX_LENGTH = 20_000
CHANGE_DESCRIPTION_MAX_LENGTH = 20_000
POSTMORTEM_SECTION_MAX_LENGTH = 100_000
TIMELINE_NOTE_MAX_LENGTH = 10_000


def too_long_message(limit: int, length: int) -> str:
    return f"At most {limit:,} characters ({length:,} now)."


def max_length_validator(limit: int) -> MaxLengthValidator:
    """The model-level bound: services' full_clean() and the admin's forms apply it."""
    return MaxLengthValidator(limit, message=f"At most {limit:,} characters (%(show_value)d now).")


def limit_help(limit: int) -> str:
    """What a form says next to a Markdown field."""
    return f"Markdown, at most {limit:,} characters."


class StoredMarkdown:
    """A model mixin keeping each Markdown field's HTML beside it, rendered when the text is saved
    (MARKDOWN_FIELDS: {"summary": "summary_html"}), so pages and API lists never render on a read.

    In save() rather than in each service: the services, the admin, importers, alert promotion and
    the factories all save through it, and none can forget. `queryset.update()` and `bulk_create()`
    skip it — write Markdown fields through save(). `rerender_markdown` renders every row again
    (after OPSLOG_TRACKER_URL changes)."""

    MARKDOWN_FIELDS: dict[str, str] = {}
    # The rows whose fields are Markdown (a filter), when not all are.
    MARKDOWN_ROWS: dict = {}

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # The texts the stored HTML was rendered from: saving them unchanged renders nothing.
        instance._rendered_from = {
            name: instance.__dict__[name] for name in cls.MARKDOWN_FIELDS if name in instance.__dict__
        }
        return instance

    def markdown_text(self, field: str) -> str:
        """The text of `field` to render (a subclass may render only some rows)."""
        return getattr(self, field) or ""

    def render_markdown_fields(self, *, force: bool = False, fields=None) -> list[str]:
        """Render the Markdown fields whose text changed (all with `force`); the HTML fields set."""
        rendered_from = self.__dict__.setdefault("_rendered_from", {})
        deferred = self.get_deferred_fields()
        changed = []
        for source, target in self.MARKDOWN_FIELDS.items():
            if source in deferred or (fields is not None and source not in fields):
                continue
            text = self.markdown_text(source)
            if force or rendered_from.get(source) != text or (text and not getattr(self, target)):
                setattr(self, target, render_markdown(text))
                rendered_from[source] = text
                changed.append(target)
        return changed

    def save(self, *args, **kwargs):
        update_fields = kwargs.get("update_fields")
        changed = self.render_markdown_fields(fields=None if update_fields is None else set(update_fields))
        if update_fields is not None and changed:
            kwargs["update_fields"] = [*update_fields, *changed]
        super().save(*args, **kwargs)


def render_stored_markdown(queryset, fields: dict[str, str], *, batch_size: int = 200) -> int:
    """Render `fields` ({text field: HTML field}) of every row of `queryset` again and store the
    HTML; the number of rows. For data migrations (historical models have no StoredMarkdown) and
    `rerender_markdown`; rows are read and written in batches, so memory stays flat."""
    model = queryset.model
    count = 0
    batch = []
    for row in queryset.only("pk", *fields).order_by("pk").iterator(chunk_size=batch_size):
        for source, target in fields.items():
            setattr(row, target, render_markdown(getattr(row, source) or ""))
        batch.append(row)
        if len(batch) >= batch_size:
            model._base_manager.bulk_update(batch, list(fields.values()))
            count += len(batch)
            batch = []
    if batch:
        model._base_manager.bulk_update(batch, list(fields.values()))
        count += len(batch)
    return count
