"""The back office on a 375 px phone, on the demo shop's data: no page is wider than the screen, every
button and field of a page lies inside it (rows of tabs may scroll sideways, inside their own box),
lists marked .table-cards show one labelled card per row, and the menu opens from the top bar."""

import re

from playwright.sync_api import expect

from app.demo import DEMO_OWNER_MOBILE, DEMO_PASSWORD

PAGES = [
    "/admin/",
    "/admin/orders",
    "/admin/products",
    "/admin/refunds",
    "/admin/payments",
    "/admin/distribution",
    "/admin/distribution/applications",
    "/admin/distribution/ledger",
    "/admin/distribution/withdrawals",
    "/admin/distribution/withdrawals?status=paid",
    "/admin/distribution/bindings",
    "/admin/distribution/fraud",
    "/admin/distribution/grades",
    "/admin/distribution/dividends",
    "/admin/distribution/overview",
    "/admin/marketing",
    "/admin/marketing/flash",
    "/admin/marketing/groups",
    "/admin/settings",
]

# Every visible control of the page's content, and where it lies; controls inside a row of tabs are
# measured against the row (it scrolls sideways), the others against the screen.
OUT_OF_REACH_JS = """
() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll(
      ".admin-main a, .admin-main button, .admin-main input:not([type=hidden]), .admin-main select, .admin-main textarea")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (getComputedStyle(el).visibility === "hidden") continue;
    const bar = el.closest(".nav");
    if (bar) {
      const style = getComputedStyle(bar);
      if (bar.scrollWidth > bar.clientWidth + 1 && !["auto", "scroll"].includes(style.overflowX)) {
        out.push("tabs that do not scroll: " + bar.textContent.replace(/\\s+/g, " ").trim().slice(0, 40));
      }
      continue;
    }
    if (box.left < -1 || box.right > width + 1) {
      out.push(`${el.tagName.toLowerCase()} "${(el.textContent || el.name || "").trim().slice(0, 30)}" at ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
  }
  return out;
}
"""

CARD_TABLES_JS = """
() => Array.from(document.querySelectorAll("table.table-cards")).map(table => ({
  headVisible: table.tHead ? table.tHead.getBoundingClientRect().height > 0 : false,
  rows: table.tBodies.length ? table.tBodies[0].rows.length : 0,
  unlabelled: Array.from(table.querySelectorAll("tbody > tr > td:not([colspan])"))
    .filter(td => !td.hasAttribute("data-label")).length,
  labels: Array.from(table.querySelectorAll("tbody > tr:first-child > td[data-label]"))
    .map(td => td.dataset.label).filter(Boolean),
}))
"""


def test_every_back_office_list_fits_a_phone_and_every_action_is_reachable(live_server, phone, shot):
    result = live_server.app.test_cli_runner().invoke(args=["seed-demo", "--url", live_server("/")])
    assert result.exit_code == 0, result.output

    page = phone
    page.goto(live_server("/admin/login"))
    page.fill("input[name=mobile]", DEMO_OWNER_MOBILE)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url("**/admin/")

    card_lists = 0
    for path in PAGES:
        response = page.goto(live_server(path))
        assert response.status == 200, path
        page.wait_for_load_state("load")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375, f"{path} is wider than the phone"
        assert page.evaluate(OUT_OF_REACH_JS) == [], path
        for table in page.evaluate(CARD_TABLES_JS):
            if table["rows"] == 0:
                continue
            card_lists += 1
            assert not table["headVisible"], f"{path}: the header row shows on a phone"
            assert table["unlabelled"] == 0, f"{path}: cells without their column's name"
            assert table["labels"], path
        shot(page, path.strip("/").replace("/", "-").replace("?", "-") or "dashboard", full_page=True)
    assert card_lists >= 10  # the demo has rows in most lists: the cards were really checked

    # The menu opens from the top bar and reaches every section.
    page.goto(live_server("/admin/"))
    page.get_by_role("button", name="菜单").click()
    sidebar = page.locator("#sidebar")
    sidebar.get_by_role("link", name="分销").first.wait_for(state="visible")
    expect(sidebar).to_have_class(re.compile(r"\bshow\b"))
    expect(sidebar).not_to_have_class(re.compile(r"\bshowing\b"))  # Bootstrap's slide-in is over
    shot(page, "menu")
    sidebar.get_by_role("link", name="分销").first.click()
    page.wait_for_url("**/admin/distribution")
