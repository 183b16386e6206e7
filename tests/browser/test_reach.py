"""Every control reachable by mouse at every width (#15.1, #15.4, #15.6, #15.14, #15.17).

A real mouse click lands on whatever element is topmost at the pointer. So before each click the
tests ask the page what lies at the centre of the control (`document.elementFromPoint`) and fail
naming that element when it is not the control; then they click with the mouse (`locator.click()`).
One browser, one live server; each test loads its pages once per width by resizing the viewport.
"""

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deploys.factories import ChangeRecordFactory, DeployFactory, EnvironmentFactory, ServiceFactory
from incidents.factories import IncidentDeployFactory, IncidentFactory
from incidents.models import IncidentDeploy
from postmortems.factories import PostMortemFactory, RemediationFactory
from tests.support.browser import log_in

pytestmark = pytest.mark.django_db(transaction=True)

WIDTHS = (390, 1280, 1366, 1920)
NOTE = "Rolled back after the error rate doubled"
# A long service name made of words, as teams name them: it may wrap at a separator, never mid-word.
LONG_SERVICE = "payments-gateway.eu_west"

# Buttons, action links and every other link of the page, disclosure summaries.
ACTIONS = "main :is(button, a.button, input[type=submit], summary, a[href])"

# What lies over each element's centre once it is scrolled into view: null when the element itself
# (or something inside it) would take a click there.
COVERED = """els => els.map(el => {
  if (el.closest('details:not([open])') && el.tagName !== 'SUMMARY') return null;
  el.scrollIntoView({block: 'center', inline: 'center'});
  // An inline link that wraps takes the click on its first line (as Playwright aims there too).
  const rects = el.getClientRects();
  const b = rects.length > 1 ? rects[0] : el.getBoundingClientRect();
  if (!b.width || !b.height || getComputedStyle(el).visibility === 'hidden') return null;
  const x = b.left + b.width / 2, y = b.top + b.height / 2;
  const top = document.elementFromPoint(x, y);
  if (top && (top === el || el.contains(top))) return null;
  const name = e => e ? `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}${[...e.classList].map(c => '.' + c).join('')}` : 'nothing (off-screen)';
  return `${name(el)} "${(el.innerText || el.value || '').trim().slice(0, 40)}" at (${x|0}, ${y|0}) is under ${name(top)}`;
}).filter(Boolean)"""

# Line breaks inside an element's text that fall mid-word: after a character that is not a separator
# (a list's ", " breaks at the space, whose rect is empty at a line end, so "," counts too).
MID_WORD_BREAKS = """el => {
  const out = [];
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
  let prev = null, prevChar = '';
  while (walker.nextNode()) {
    const node = walker.currentNode;
    for (let i = 0; i < node.length; i++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const rect = range.getBoundingClientRect();
      if (!rect.width) continue;
      if (prev && rect.top > prev.top + 2 && !/[-_.,\\/\\s]/.test(prevChar)) out.push(`${el.innerText.trim()}: broken after "${prevChar}"`);
      prev = rect;
      prevChar = node.data[i];
    }
  }
  return out;
}"""


@pytest.fixture
def scene(browser_user):
    """An ongoing incident with suspect deploys (one per width to link by mouse), a cause linked
    with a note, a remediating deploy, a post-mortem with a remediation."""
    now = timezone.now().replace(microsecond=0)
    production = EnvironmentFactory(slug="production")
    payments = ServiceFactory(slug="payments")
    gateway = ServiceFactory(slug=LONG_SERVICE)
    incident = IncidentFactory(
        title="Card payments fail with 502",
        severity=1,
        started_at=now - dt.timedelta(hours=1),
        services=[payments, gateway],
        commander="Priya Raman",
        comms_lead="Tomas Novak",
    )
    suspects = [
        DeployFactory(
            service=gateway if n % 2 else payments,
            environment=production,
            version=f"2026.12.{n + 10}-4{n}21",
            previous_version=f"2026.12.{n + 9}-4{n}20",
            deployer="priya.raman",
            deployed_at=incident.started_at - dt.timedelta(minutes=20 * (n + 1)),
        )
        for n in range(6)
    ]
    cause = suspects[-1]
    IncidentDeployFactory(incident=incident, deploy=cause, created_by=browser_user, note=NOTE)
    fix = DeployFactory(service=payments, environment=production, deployed_at=now - dt.timedelta(minutes=10))
    IncidentDeployFactory(incident=incident, deploy=fix, relation=IncidentDeploy.Relation.REMEDIATION)
    ChangeRecordFactory(service=payments, planned_at=now)  # so the deploy page offers "Attach"
    postmortem = PostMortemFactory(incident=incident)
    remediation = RemediationFactory(postmortem=postmortem)
    return {"incident": incident, "suspects": suspects[:-1], "cause": cause, "fix": fix, "remediation": remediation}


def _paths(scene) -> list[str]:
    incident, remediation = scene["incident"], scene["remediation"]
    return [
        f"/incidents/{incident.pk}/",
        f"/incidents/{incident.pk}/postmortem/",
        f"/deploys/{scene['cause'].pk}/",
        f"/deploys/?service={LONG_SERVICE}",
        "/remediations/",
        f"/remediations/{remediation.pk}/edit/",
    ]


def _covered(page) -> list[str]:
    actions = page.locator(ACTIONS)
    assert actions.count() > 0, f"no action on {page.url}"
    return actions.evaluate_all(COVERED)


def _click(page, locator) -> None:
    """A real mouse click at the centre of `locator`, after checking nothing else would take it."""
    problems = locator.evaluate_all(COVERED)
    assert not problems, f"at {page.viewport_size['width']}px: {problems}"
    locator.click()


def test_every_action_on_the_response_pages_takes_a_mouse_click_at_every_width(page, live_server, browser_user, scene):
    """#15.1: "Link as cause" and "Mark as remediating" take the mouse at 1100–1366 px; nothing lies
    over any action button of the incident, post-mortem, deploy and remediation pages."""
    incident = scene["incident"]
    log_in(page, live_server, browser_user, next_path=f"/incidents/{incident.pk}/")
    problems = []
    for width, suspect in zip(WIDTHS, scene["suspects"], strict=False):
        page.set_viewport_size({"width": width, "height": 900})
        for path in _paths(scene):
            page.goto(f"{live_server.url}{path}")
            problems += [f"{path} at {width}px: {problem}" for problem in _covered(page)]
        # A real click at each width links one more suspect as a cause.
        page.goto(f"{live_server.url}/incidents/{incident.pk}/")
        row = page.locator(f"#suspects tr.deploy-candidate[data-deploy='{suspect.pk}']")
        _click(page, row.get_by_role("button", name="Link as cause"))
        expect(row).to_contain_text("Linked as cause")
        assert incident.deploy_links.filter(deploy=suspect, relation=IncidentDeploy.Relation.CAUSE).exists()

    # And one "Mark as remediating" at a laptop width.
    page.set_viewport_size({"width": 1280, "height": 800})
    last = scene["suspects"][-1]
    row = page.locator(f"#suspects tr.deploy-candidate[data-deploy='{last.pk}']")
    _click(page, row.get_by_role("button", name="Mark as remediating"))
    expect(page.locator(f"#suspects tr.deploy-candidate[data-deploy='{last.pk}']")).to_contain_text(
        "Linked as remediating"
    )
    assert incident.deploy_links.filter(deploy=last, relation=IncidentDeploy.Relation.REMEDIATION).exists()
    assert not problems, "\n".join(problems)


def test_each_role_is_handed_over_by_mouse_at_every_width(page, live_server, browser_user, scene):
    """#16.3: the roles at the top of the incident page: "Change" opens a small form whose name box
    and button take the mouse, at a phone, a laptop and a wide screen, and the page then shows the
    new holder and the handover."""
    incident = scene["incident"]
    log_in(page, live_server, browser_user, next_path=f"/incidents/{incident.pk}/")
    for width in (390, 1280, 1920):
        page.set_viewport_size({"width": width, "height": 900})
        for role, label, field in (
            ("lead", "incident lead", "commander"),
            ("comms", "communications lead", "comms_lead"),
            ("scribe", "scribe", "scribe"),
        ):
            name = f"{role} {width}"
            page.goto(f"{live_server.url}/incidents/{incident.pk}/")
            item = page.locator(f"ul.roles li.role-{role}")
            _click(page, item.locator("summary"))
            box = item.get_by_role("combobox", name=label, exact=False)
            _click(page, box)
            box.fill(name)
            _click(page, item.get_by_role("button", name=f"Assign {label}"))
            expect(page.locator(f"ul.roles li.role-{role} .holder")).to_have_text(name)
            expect(page.locator("#timeline")).to_contain_text(name)
            incident.refresh_from_db()
            assert getattr(incident, field) == name
    scroll_width, inner_width = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
    assert scroll_width <= inner_width


def test_no_response_page_scrolls_sideways_on_a_phone_and_wide_tables_say_they_scroll(
    page, live_server, browser_user, scene
):
    """#15.4: at 390 px no page scrolls sideways; a table wider than the phone scrolls in its own box,
    which says so."""
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, browser_user, next_path=f"/incidents/{scene['incident'].pk}/")
    problems = []
    for path in _paths(scene):
        page.goto(f"{live_server.url}{path}")
        scroll_width, inner_width = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
        if scroll_width > inner_width:
            problems.append(f"{path} is {scroll_width}px wide at {inner_width}px")
    assert not problems, "\n".join(problems)

    page.goto(f"{live_server.url}/incidents/{scene['incident'].pk}/")
    box = page.locator(".table-scroll").filter(has=page.locator("#suspects"))
    expect(box).to_have_count(1)
    assert box.evaluate("el => el.scrollWidth > el.clientWidth"), "the suspects table is wider than a phone"
    hint = box.evaluate("el => [getComputedStyle(el, '::before').content, getComputedStyle(el, '::before').display]")
    assert "scroll" in hint[0].lower() and hint[1] != "none", f"no visible hint that the table scrolls: {hint}"
    # On a desktop the same table fits and the hint is gone.
    page.set_viewport_size({"width": 1920, "height": 900})
    expect(box).not_to_have_class(re.compile(r"\boverflowing\b"))
    assert box.evaluate("el => getComputedStyle(el, '::before').content") in ("none", "normal")


def test_service_names_wrap_at_separators_never_mid_word(page, live_server, browser_user, scene):
    """#15.6: "payments" and "payments-gateway.eu_west" never break mid-word ("payment / s") in the
    suspect-deploys table, the deploy drill-down or the incident and post-mortem lists."""
    log_in(page, live_server, browser_user)
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        for path, cells in [
            (f"/incidents/{scene['incident'].pk}/", "#suspects td.service"),
            (f"/deploys/?service={LONG_SERVICE}", "table.log td.service"),
            ("/deploys/?service=payments", "table.log td.service"),
            ("/incidents/", "table.incidents td.services"),
            ("/postmortems/", "table.log td.services"),
        ]:
            page.goto(f"{live_server.url}{path}")
            expect(page.locator(cells).first).to_be_visible()
            for cell in page.locator(cells).all():
                problems += [f"{path} at {width}px: {problem}" for problem in cell.evaluate(MID_WORD_BREAKS)]
    assert not problems, "\n".join(problems[:20])


def test_caused_by_shows_who_when_and_the_note_readably(page, live_server, browser_user, scene):
    """#15.14: who linked the cause, when and their note get a readable line, not ~70 px with one
    word a line."""
    log_in(page, live_server, browser_user, next_path=f"/incidents/{scene['incident'].pk}/")
    problems = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.reload()
        note = page.locator("#deploys").get_by_text(NOTE)
        expect(note).to_be_visible()
        box = note.bounding_box()
        line = note.evaluate("el => parseFloat(getComputedStyle(el).lineHeight)")
        if box["width"] < 200 or box["height"] > 3 * line + 1:
            problems.append(
                f"at {width}px the note is {box['width']:.0f}px wide, {box['height'] / line:.1f} lines high"
            )
        who_when = page.locator("#deploys .deploy-link").first.get_by_text("oncall")
        expect(who_when).to_be_visible()
        if who_when.bounding_box()["width"] < 200:
            problems.append(f"at {width}px who and when are {who_when.bounding_box()['width']:.0f}px wide")
    assert not problems, "\n".join(problems)


def test_the_incident_list_shows_status_and_start_on_a_phone_under_a_compact_menu(
    page, live_server, browser_user, scene
):
    """#15.17: at 390 px every incident row shows its status and start without scrolling sideways,
    and the menu takes one compact band at the top."""
    IncidentFactory(title="Search results empty for multi-word queries", resolved_at=timezone.now())
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server, browser_user, next_path="/incidents/")

    menu = page.locator("header.topbar").bounding_box()
    assert menu["height"] <= 80, f"the menu takes {menu['height']:.0f}px"
    rows = page.locator("tr.incident")
    expect(rows).to_have_count(2)
    for row in rows.all():
        for part in (row.locator(".incident-status"), row.locator("time"), row.locator(".sev-badge")):
            expect(part).to_be_visible()
            box = part.bounding_box()
            assert 0 <= box["x"] and box["x"] + box["width"] <= 390, (
                f"{part.inner_text()!r} is off-screen at x={box['x']}"
            )
    # Every menu item is still a tap away.
    for item in page.locator("header.topbar nav a").all():
        item.scroll_into_view_if_needed()
        box = item.bounding_box()
        assert 0 <= box["x"] and box["x"] + box["width"] <= 390, f"{item.inner_text()!r} out of reach"
    _click(page, page.locator("header.topbar nav a", has_text="Remediations"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Remediations")
