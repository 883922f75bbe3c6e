"""Orvanta's web UI driven in Debian's Chromium through Playwright, against the
real server that `tests/it/ui.rs` started.

What a person would do: log in, create a script, create its webhook token,
copy the sync webhook's curl and run it in a shell, find that run on the Runs
page, run the script from its form and watch its logs arrive while it runs,
create a token and see it once, see an expiring token's red badge (and the
amber one the Rust side made), log out. Each step saves a screenshot to
ORVANTA_UI_SHOTS; a failing step saves `failed.png` and the page's console.

Environment: ORVANTA_UI_BASE (the server), ORVANTA_UI_EMAIL / ORVANTA_UI_PASSWORD
(a user's login), ORVANTA_UI_ADMIN_TOKEN (a token of that user, to log in with), ORVANTA_UI_SHOTS (a folder), ORVANTA_UI_CHROMIUM (default
/usr/bin/chromium). Playwright downloads no browser: it is given Debian's.
"""

import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect, sync_playwright

BASE = os.environ["ORVANTA_UI_BASE"].rstrip("/")
EMAIL = os.environ["ORVANTA_UI_EMAIL"]
PASSWORD = os.environ["ORVANTA_UI_PASSWORD"]
SHOTS = os.environ["ORVANTA_UI_SHOTS"]
ADMIN_TOKEN = os.environ["ORVANTA_UI_ADMIN_TOKEN"]
CHROMIUM = os.environ.get("ORVANTA_UI_CHROMIUM", "/usr/bin/chromium")
SCRIPT = "u/admin/ui_hello"

# Prints its lines two seconds apart, so that the job page can be seen receiving them while the job runs (with
# room for a loaded CI machine: the page must show the first line before the last is printed).
CODE = '''import time

def main(name: str = "world", times: int = 3):
    for i in range(times):
        print(f"tick {i + 1} for {name}", flush=True)
        time.sleep(2)
    return {"greeting": f"Hello, {name}!", "ticks": times}
'''

FLOW = "u/admin/ui_flow"
FLOW_VALUE = {
    "modules": [
        {"id": "greet", "value": {"type": "rawscript", "language": "python3",
                                  "content": "import time\n\ndef main(name: str):\n    time.sleep(3)\n    return f\"Hello, {name}!\"\n",
                                  "input_transforms": {"name": {"type": "javascript", "expr": "flow_input.name"}}}},
        {"id": "shout", "value": {"type": "rawscript", "language": "python3",
                                  "content": "def main(text: str):\n    return text.upper()\n",
                                  "input_transforms": {"text": {"type": "javascript", "expr": "results.greet"}}}},
    ]
}

shot_no = 0


def shot(page, name):
    global shot_no
    shot_no += 1
    page.screenshot(path=os.path.join(SHOTS, f"{shot_no:02d}-{name}.png"), full_page=True)


def copy(page, button_name):
    """Clicks a copy button, waits for it to say so, and answers what the clipboard holds."""
    button = page.get_by_role("button", name=button_name, exact=True)
    button.click()
    expect(button).to_have_text("Copied")
    return page.evaluate("navigator.clipboard.readText()")


AXE = Axe()
checked = []


def accessible(page, name):
    """axe-core's WCAG 2 A and AA rules (labels, roles, names, contrast, ...) find nothing on the page as it is."""
    page.wait_for_load_state("networkidle")
    results = AXE.run(page, options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
    found = results.response["violations"]
    assert not found, f"accessibility violations on {name}:\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']}: " + "; ".join(n["target"][0] if isinstance(n["target"][0], str) else str(n["target"]) for n in v["nodes"][:5])
        for v in found
    )
    checked.append(name)


def check_page_basics(page, title):
    """Every page: its title, one h1, and axe-core's accessibility rules."""
    expect(page).to_have_title(re.compile(re.escape(title) + r" · Orvanta$"))
    expect(page.locator("main h1")).to_have_count(1)
    accessible(page, title)


def log_in(page):
    page.goto(BASE + "/")
    expect(page).to_have_url(re.compile(r"#/login"))
    check_page_basics(page, "Log in")
    # A wrong password: the API's words are shown.
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("the email or the password is wrong")
    shot(page, "login-refused")
    page.get_by_label("Password").fill(PASSWORD)
    # The keyboard alone: Enter submits.
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(re.compile(r"#/w/demo/scripts$"))
    check_page_basics(page, "Scripts")
    # The session is an HttpOnly cookie: the page's code cannot read it.
    assert "token=" not in page.evaluate("document.cookie")
    shot(page, "scripts-list")


def one_round_trip(page):
    """A reload of a logged-in page makes one wave of API requests before its content shows: the shell carries
    whoami and the workspaces, so the page's own request goes out at once (no API answer is awaited before any
    API request is made). Answers the API paths asked."""
    events = []
    on_request = lambda r: r.url.startswith(BASE + "/api/") and events.append(("sent", r.url[len(BASE):], time.monotonic()))
    on_done = lambda r: r.url.startswith(BASE + "/api/") and events.append(("done", r.url[len(BASE):], time.monotonic()))
    page.on("request", on_request)
    page.on("requestfinished", on_done)
    page.on("requestfailed", on_done)
    started = time.monotonic()
    page.reload()
    expect(page.locator("main h1")).to_have_text("Scripts")
    shown = time.monotonic()
    page.remove_listener("request", on_request)
    page.remove_listener("requestfinished", on_done)
    page.remove_listener("requestfailed", on_done)
    sent = [path for kind, path, _ in events if kind == "sent"]
    assert "/api/users/whoami" not in sent and "/api/workspaces/list" not in sent, sent
    assert sent == ["/api/w/demo/scripts/list"], sent
    first_done = min((t for kind, _, t in events if kind == "done"), default=shown)
    late = [path for kind, path, t in events if kind == "sent" and t > first_done]
    assert not late, f"API requests made after another one's answer, before the content showed: {late}"
    # The shell's data was used and removed; the header shows who is logged in.
    assert page.evaluate("document.getElementById('orvanta-boot')") is None
    expect(page.locator("#account-link")).to_have_text("Account (admin)")
    print(f"reload of the Scripts page: API requests before its content {sent}; content after {shown - started:.3f}s")
    return sent


def keyboard_basics(page):
    """The first Tab reaches the skip link, which moves the focus to the content."""
    one_round_trip(page)
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to content", focused
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # The navigation is reachable and marks the current page.
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Scripts")).to_have_attribute(
        "aria-current", "page"
    )


def create_script(page):
    page.get_by_role("link", name="New script").click()
    check_page_basics(page, "New script")
    page.get_by_label("Path").fill(SCRIPT)
    page.get_by_label("Language").select_option("python3")
    page.get_by_label("Summary").fill("Hello from the browser")
    page.get_by_label("Code").fill(CODE)
    page.get_by_role("button", name="Create the script").click()
    expect(page).to_have_url(re.compile(r"#/w/demo/scripts/get/u/admin/ui_hello\?saved="))
    saved = page.locator("#saved code").inner_text()
    assert re.fullmatch(r"[0-9a-f]{16}", saved), saved
    expect(page.locator("#script-hash")).to_have_text(saved)
    check_page_basics(page, "u/admin/ui_hello · Details & Triggers")
    shot(page, "script-created")

    # A second version: a new hash, shown after the save.
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("Summary").fill("Hello from the browser, twice")
    page.get_by_role("button", name="Save a new version").click()
    expect(page.locator("#saved")).to_be_visible()
    second = page.locator("#saved code").inner_text()
    assert second != saved and re.fullmatch(r"[0-9a-f]{16}", second), (saved, second)
    # Both versions, newest first.
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    expect(page.locator("#versions tbody tr").first).to_contain_text(second)

    # The list finds it by part of its path.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Scripts").click()
    page.get_by_label("Search by path").fill("ui_hel")
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody tr a").first).to_have_text(SCRIPT)
    page.get_by_label("Search by path").fill("no-such-thing")
    expect(page.locator("tbody")).to_contain_text("No script matches.")
    page.get_by_label("Search by path").fill("ui_hel")
    page.get_by_role("link", name=SCRIPT, exact=True).click()
    return second


def webhooks(page, hash_):
    # Every webhook of the seed: by path and by hash, async, sync POST and GET, SSE.
    hooks = page.locator("#webhooks [data-hook]")
    expect(hooks).to_have_count(8)
    for kind in ["async-path", "async-hash", "sync-path", "sync-hash", "sync-get-path", "sync-get-hash", "sse-path", "sse-hash"]:
        expect(page.locator(f'[data-hook="{kind}"] pre')).to_contain_text("curl")
    expect(page.locator('[data-hook="async-hash"]')).to_contain_text(f"/api/w/demo/jobs/run/h/{hash_}")
    expect(page.locator('[data-hook="sync-get-path"] code')).to_contain_text("run_wait_result/p/u/admin/ui_hello?payload=")
    expect(page.locator('[data-hook="sse-path"] pre')).to_contain_text("run_and_stream/p/u/admin/ui_hello")

    # A webhook-specific token for this script, shown once, fills the commands.
    page.get_by_role("button", name="Create a webhook token for this script").click()
    token = page.locator("#new-webhook-token").inner_text()
    assert token.startswith("orv_"), token
    expect(page.locator('[data-hook="sync-path"] pre')).to_contain_text(token)

    # The run form's arguments go into the commands.
    page.get_by_label(re.compile(r"^name")).fill("curl")
    page.get_by_label(re.compile(r"^times")).fill("1")
    shot(page, "script-webhooks")

    # Copy the sync webhook's curl and run it, as a person pastes it into a shell.
    copied = copy(page, "Copy curl: Sync (result) by path")
    assert copied.startswith("curl ") and token in copied, copied
    out = subprocess.run(["bash", "-c", copied], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, (copied, out.stdout, out.stderr)
    assert json.loads(out.stdout) == {"greeting": "Hello, curl!", "ticks": 1}, out.stdout
    print("the copied sync curl answered", out.stdout.strip())

    # The GET form of the sync webhook works as copied too.
    copied = copy(page, "Copy curl: Sync (result) by hash, GET")
    out = subprocess.run(["bash", "-c", copied], capture_output=True, text=True, timeout=120)
    assert json.loads(out.stdout) == {"greeting": "Hello, curl!", "ticks": 1}, (copied, out.stdout, out.stderr)
    return token


def runs_page(page):
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    check_page_basics(page, "Runs")
    row = page.locator("#runs tbody tr", has_text=SCRIPT).filter(has_text="webhook_sync").first
    expect(row).to_contain_text("success")
    # Filters: by status and path, kept in the address.
    page.get_by_label("Path starts with").fill("u/admin/ui_")
    page.get_by_label("Status").select_option("success")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"#/w/demo/runs\?path=u%2Fadmin%2Fui_&status=success"))
    expect(page.locator("#runs tbody tr")).to_have_count(2)
    page.get_by_label("Status").select_option("failure")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#runs tbody")).to_contain_text("No runs match.")
    page.get_by_label("Status").select_option("")
    page.get_by_label("Created since").fill("2099-01-01T00:00")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#runs tbody")).to_contain_text("No runs match.")
    page.get_by_label("Created since").fill("")
    page.get_by_role("button", name="Filter").click()
    shot(page, "runs")
    row = page.locator("#runs tbody tr").first
    row.get_by_role("link").click()
    expect(page).to_have_title(re.compile(r"^Run [0-9a-f]{8} · Orvanta$"))
    expect(page.locator("#job-status")).to_have_text("success")
    expect(page.locator("#result")).to_contain_text('"greeting": "Hello, curl!"')
    expect(page.locator("#logs")).to_contain_text("tick 1 for curl")
    accessible(page, "a run")
    shot(page, "run-from-curl")


def live_logs(page):
    """Run from the form; the logs arrive while the job still runs."""
    page.goto(f"{BASE}/#/w/demo/scripts/get/{SCRIPT}")
    page.get_by_label(re.compile(r"^name")).fill("live")
    page.get_by_label(re.compile(r"^times")).fill("4")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page).to_have_url(re.compile(r"#/w/demo/runs/[0-9a-f-]{36}$"))
    expect(page.locator("#logs")).to_contain_text("tick 1 for live", timeout=30_000)
    # Seen before the end: the job sleeps two seconds after each line.
    status = page.locator("#job-status").inner_text()
    logs = page.locator("#logs").inner_text()
    assert status in ("running", "queued") and "tick 4" not in logs, (status, logs)
    shot(page, "run-live")
    expect(page.locator("#logs")).to_contain_text("tick 4 for live", timeout=30_000)
    expect(page.locator("#job-status")).to_have_text("success", timeout=30_000)
    expect(page.locator("#result")).to_contain_text('"ticks": 4')
    # Lines are not repeated by a reconnection.
    assert page.locator("#logs").inner_text().count("tick 1 for live") == 1
    shot(page, "run-done")

    # Run again: a new run with the same arguments; then cancel one that is still running.
    first = page.url
    page.get_by_role("button", name="Run again").click()
    expect(page).not_to_have_url(first)
    expect(page.locator("#args")).to_contain_text('"name": "live"')
    expect(page.locator("#logs")).to_contain_text("tick 1 for live", timeout=30_000)
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#job-status")).to_have_text("canceled", timeout=30_000)
    shot(page, "run-canceled")


def flows(page):
    """Create a flow through its JSON (errors next to the field), run it, watch its steps complete."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Flows").click()
    check_page_basics(page, "Flows")
    page.get_by_role("link", name="New flow").click()
    check_page_basics(page, "New flow")
    page.get_by_label("Path").fill(FLOW)
    page.get_by_label("Summary").fill("Greet, then shout")
    value = page.get_by_label("OpenFlow JSON")
    # Not JSON: the browser's parser says where, next to the field.
    value.fill('{"modules": [')
    page.get_by_role("button", name="Create the flow").click()
    expect(page.locator("#value-error")).to_contain_text("This is not JSON")
    expect(value).to_have_attribute("aria-invalid", "true")
    # JSON the API refuses: its words, next to the field.
    dup = {"modules": [{"id": "a", "value": {"type": "identity"}}, {"id": "a", "value": {"type": "identity"}}]}
    value.fill(json.dumps(dup))
    page.get_by_role("button", name="Create the flow").click()
    expect(page.locator("#value-error")).to_contain_text("this id is used by two modules")
    shot(page, "flow-refused")
    value.fill(json.dumps(FLOW_VALUE, indent=2))
    page.get_by_role("button", name="Create the flow").click()
    expect(page).to_have_url(re.compile(r"#/w/demo/flows/get/u/admin/ui_flow\?saved=1$"))
    check_page_basics(page, "u/admin/ui_flow · Details & Triggers")
    version = page.locator("#flow-version").inner_text()
    expect(page.locator("#saved")).to_contain_text(version)
    expect(page.locator("#webhooks [data-hook]")).to_have_count(8)
    expect(page.locator('[data-hook="async-version"]')).to_contain_text(f"/jobs/run/fv/{version}")
    expect(page.locator('[data-hook="sync-path"]')).to_contain_text("/jobs/run_wait_result/f/u/admin/ui_flow")
    shot(page, "flow-details")

    page.get_by_label(re.compile(r"^name")).fill("ui")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page).to_have_url(re.compile(r"#/w/demo/runs/[0-9a-f-]{36}$"))
    steps = page.locator("#steps")
    expect(steps.locator('tr[data-step="greet"]')).to_be_visible()
    # The second step waits for the first, which sleeps three seconds.
    expect(steps.locator('tr[data-step="shout"]')).to_contain_text(re.compile("waiting|running"))
    shot(page, "flow-running")
    expect(page.locator("#job-status")).to_have_text("success", timeout=60_000)
    expect(steps.locator('tr[data-step="greet"]')).to_contain_text("success")
    expect(steps.locator('tr[data-step="shout"]')).to_contain_text("success")
    expect(page.locator("#result")).to_contain_text("HELLO, UI!")
    accessible(page, "a flow run")
    shot(page, "flow-done")
    # A step's own run.
    page.get_by_role("link", name="Run of the step greet").click()
    expect(page.locator("#result")).to_contain_text("Hello, ui!")


def post(url, body, headers):
    """POSTs JSON as a platform would; answers the status."""
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json", **headers}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def inbound(page):
    """An inbound webhook made in the page, called as a platform would, its history read and replayed."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Inbound webhooks").click()
    check_page_basics(page, "Inbound webhooks")
    page.get_by_label("Name", exact=True).fill("orders")
    page.get_by_label("Verifier").select_option("header")
    page.get_by_label("Required headers").fill("X-Key: k-ui-test")
    page.get_by_label("Flows to start").fill(FLOW)
    page.get_by_role("button", name="Create the inbound webhook").click()
    check_page_basics(page, "Inbound webhook orders")
    expect(page.locator("main .lead")).to_have_text("not verified yet")
    url = page.locator("#inbound-url").inner_text()
    assert url.startswith(BASE + "/webhook/"), url
    assert post(url, {"name": "forged"}, {}) == 401
    status = post(url, {"name": "inbound"}, {"X-Key": "k-ui-test"})
    assert 200 <= status < 300, status
    page.reload()
    expect(page.locator("main .lead")).to_have_text("verified")
    rows = page.locator("#events tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="refused")).to_have_count(1)
    good = rows.filter(has_text="verified").first
    good.locator("summary").click()
    expect(good.locator(".event-body")).to_contain_text('"inbound"')
    expect(good.locator("table.headers")).to_contain_text("x-key")
    shot(page, "inbound-history")
    # The flow it started.
    good.get_by_role("link", name=re.compile(r"^Run ")).first.click()
    expect(page.locator("#job-status")).to_have_text("success", timeout=60_000)
    expect(page.locator("#result")).to_contain_text("HELLO, INBOUND!")
    page.go_back()
    # Replayed: a new record of it, and a new run.
    page.locator("#events tbody tr", has_text="verified").first.get_by_role("button", name=re.compile(r"^Replay")).click()
    expect(page.locator("#events tbody tr")).to_have_count(3)
    expect(page.locator("#events tbody")).to_contain_text("replay of")


def custom_routes(page):
    """A route made in the page answers at its URL, its path parameter an argument."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Custom routes").click()
    check_page_basics(page, "Custom HTTP routes")
    page.get_by_label("Path of the route").fill("u/admin/ui_route")
    page.get_by_label("Route", exact=True).fill("ui/hello/:name")
    page.get_by_label("Script or flow path").fill(SCRIPT)
    page.get_by_label("Authentication").select_option("none")
    page.get_by_label("Answer").select_option("sync")
    page.get_by_role("button", name="Create the route").click()
    row = page.locator('#routes tr[data-route="u/admin/ui_route"]')
    expect(row).to_be_visible()
    url = row.locator(".route-url").inner_text()
    assert url.endswith("/ui/hello/:name"), url
    req = urllib.request.Request(url.replace(":name", "route"), b'{"times": 1}', {"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=60) as r:
        assert json.loads(r.read()) == {"greeting": "Hello, route!", "ticks": 1}
    # The same route again: the API's refusal, in its words.
    page.get_by_label("Path of the route").fill("u/admin/ui_route2")
    page.get_by_label("Route", exact=True).fill("ui/hello/:other")
    page.get_by_label("Script or flow path").fill(SCRIPT)
    page.get_by_role("button", name="Create the route").click()
    expect(page.get_by_role("alert")).to_be_visible()
    shot(page, "custom-routes")

    # The OpenAPI export: generated with the default filters (everything), in JSON.
    page.get_by_label("Format").select_option("json")
    page.get_by_label("Title").fill("UI export")
    page.get_by_role("button", name="Generate").click()
    doc = json.loads(page.locator("#openapi-doc").inner_text())
    assert doc["openapi"].startswith("3.1") and doc["info"]["title"] == "UI export", doc.get("info")
    assert any("u/admin/ui_hello" in p for p in doc["paths"]), list(doc["paths"])
    with page.expect_download() as got:
        page.get_by_role("button", name="Download").click()
    assert got.value.suggested_filename == "openapi-demo.json", got.value.suggested_filename
    with open(got.value.path()) as f:
        assert json.load(f)["info"]["title"] == "UI export"
    # Filters that match nothing: the API's words.
    page.get_by_label("Runnable path within it").fill("nothing_here*")
    page.get_by_label("Include custom routes").uncheck()
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#openapi-error")).to_contain_text("matches the filters")
    shot(page, "openapi")
    page.once("dialog", lambda d: d.accept())
    row.get_by_role("button", name="Delete the route u/admin/ui_route").click()
    expect(page.locator('#routes tr[data-route="u/admin/ui_route"]')).to_have_count(0)


class Receiver(http.server.BaseHTTPRequestHandler):
    """The workspace webhook's receiver: keeps every event's type and answers 200."""

    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Receiver.received.append(json.loads(body).get("type"))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def wait_for(what, test, seconds=20):
    deadline = time.time() + seconds
    while not test():
        assert time.time() < deadline, f"waited {seconds}s for {what}"
        time.sleep(0.2)


def workspace_settings(page):
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    try:
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Workspace settings").click()
        check_page_basics(page, "Workspace settings: demo")
        # Users and roles.
        page.get_by_label("Email of a user").fill("dev@example.com")
        page.get_by_role("button", name="Add to the workspace").click()
        dev = page.locator('#users tr[data-user="dev"]')
        expect(dev.get_by_label("Role of dev")).to_have_value("developer")
        dev.get_by_label("Role of dev").select_option("operator")
        expect(page.locator("#status")).to_have_text("dev is now operator")
        page.reload()
        expect(page.locator('#users tr[data-user="dev"]').get_by_label("Role of dev")).to_have_value("operator")
        # The webhook: its URL, then its secret.
        page.get_by_label("URL", exact=True).fill(hook_url)
        page.get_by_role("button", name="Save the webhook").click()
        expect(page.locator("#webhook-secret")).not_to_be_empty()
        expect(page.get_by_label("URL", exact=True)).to_have_value(hook_url)
        # A folder: made, delivered as CreateFolder to the receiver, seen in the log, replayed.
        page.get_by_label("New folder name").fill("ui_team")
        page.get_by_role("button", name="Create the folder").click()
        expect(page.locator('#folders tr[data-folder="ui_team"]')).to_be_visible()
        wait_for("CreateFolder at the receiver", lambda: "CreateFolder" in Receiver.received)
        page.reload()
        row = page.locator("#deliveries tr", has_text="CreateFolder").first
        expect(row).to_contain_text("delivered")
        row.locator("summary").click()
        expect(row.locator("details table")).to_contain_text("200")
        shot(page, "workspace-settings")
        row.get_by_role("button", name=re.compile(r"^Replay the event")).click()
        wait_for("the replayed CreateFolder", lambda: Receiver.received.count("CreateFolder") >= 2)
        # The folder goes; the operator leaves.
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name="Delete the folder ui_team").click()
        expect(page.locator('#folders tr[data-folder="ui_team"]')).to_have_count(0)
        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name="Remove dev from demo").click()
        expect(page.locator('#users tr[data-user="dev"]')).to_have_count(0)
    finally:
        receiver.shutdown()


def tokens(page):
    page.get_by_role("link", name=re.compile(r"^Account")).click()
    check_page_basics(page, "Account settings")
    # The webhook token made on the script's page is listed by its prefix, with its scope.
    expect(page.locator("#tokens")).to_contain_text("jobs:run:scripts:u/admin/ui_hello")
    # The token the Rust side made to expire in 20 days has the amber badge.
    amber = page.locator("#tokens tr", has_text="in twenty days")
    expect(amber.locator('[data-badge="amber"]')).to_be_visible()

    page.get_by_label("Label").fill("deploys")
    page.get_by_role("button", name="Create the token").click()
    secret = page.locator("#new-token").inner_text()
    assert secret.startswith("orv_"), secret
    # Made without an expiry, it has none (not the login session's).
    expect(page.locator("#tokens tr", has_text="deploys").locator("td.expires")).to_have_text("never")
    expect(page.locator("#tokens tr", has_text="deploys").locator("[data-badge]")).to_have_count(0)
    expect(page.locator("#tokens")).to_contain_text(secret[:10])
    assert copy(page, "Copy token") == secret
    shot(page, "token-created")
    # Shown once: after a reload only its prefix is left.
    page.reload()
    expect(page.locator("#tokens")).to_contain_text(secret[:10])
    assert secret not in page.content()

    # A token expiring in 3 days: the red badge.
    page.get_by_label("Label").fill("soon")
    page.get_by_label("Expires after (days)").fill("3")
    page.get_by_role("button", name="Create the token").click()
    red = page.locator("#tokens tr", has_text="soon")
    expect(red.locator('[data-badge="red"]')).to_have_text(re.compile(r"expires in [23] days"))
    shot(page, "token-badges")

    # The API's words when it refuses: a scope that is not one.
    page.get_by_label("Label").fill("bad")
    page.get_by_label("Scopes").fill("not a scope!")
    page.get_by_role("button", name="Create the token").click()
    expect(page.get_by_role("alert")).to_contain_text("scope")
    page.get_by_label("Scopes").fill("")

    # Delete one.
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete the token deploys").click()
    expect(page.locator("#tokens")).not_to_contain_text(secret[:10])


def narrow_screen(browser):
    """A phone-sized window: the pages still read, nothing wider than the screen."""
    ctx = browser.new_context(viewport={"width": 375, "height": 740})
    page = ctx.new_page()
    page.goto(BASE + "/")
    # This time with the admin token, as on a fresh instance whose admin has no password yet.
    page.get_by_label("Token", exact=True).fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Log in with the token").click()
    expect(page).to_have_url(re.compile(r"#/w/demo/scripts$"))
    for where in ["#/w/demo/scripts", f"#/w/demo/scripts/get/{SCRIPT}", "#/w/demo/flows", f"#/w/demo/flows/get/{FLOW}",
                  "#/w/demo/runs", "#/w/demo/inbound", "#/w/demo/routes", "#/w/demo/settings",
                  "#/account"]:
        page.goto(BASE + "/" + where)
        expect(page.locator("main h1")).to_be_visible()
        accessible(page, f"{where} on a narrow screen")
        wide = page.evaluate("document.documentElement.scrollWidth")
        if wide > 375:
            culprits = page.evaluate(
                """[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 376)
                   .filter(e => !e.closest('.table-wrap') || getComputedStyle(e).position === 'absolute')
                   .slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + e.getBoundingClientRect().right)"""
            )
            raise AssertionError(f"{where} is {wide}px wide on a 375px screen: {culprits}")
    shot(page, "narrow-account")
    ctx.close()


def log_out(page):
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"#/login"))
    # The session is over: a page that needs it sends back to the login.
    page.goto(BASE + "/#/account")
    expect(page).to_have_url(re.compile(r"#/login\?next="))
    shot(page, "logged-out")


def main():
    os.makedirs(SHOTS, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        ctx = browser.new_context(viewport={"width": 1280, "height": 900})
        ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=BASE)
        ctx.set_default_timeout(15_000)
        page = ctx.new_page()
        problems = []
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        page.on("pageerror", lambda e: problems.append(str(e)))
        step = "start"
        try:
            for step, run in [
                ("log in", lambda: log_in(page)),
                ("keyboard", lambda: keyboard_basics(page)),
            ]:
                run()
            step = "create a script"
            hash_ = create_script(page)
            step = "webhooks"
            webhooks(page, hash_)
            for step, run in [
                ("runs", lambda: runs_page(page)),
                ("live logs", lambda: live_logs(page)),
                ("flows", lambda: flows(page)),
                ("inbound webhooks", lambda: inbound(page)),
                ("custom routes", lambda: custom_routes(page)),
                ("workspace settings", lambda: workspace_settings(page)),
                ("tokens", lambda: tokens(page)),
                ("narrow screen", lambda: narrow_screen(browser)),
                ("log out", lambda: log_out(page)),
            ]:
                run()
            # The refused login and the refused scope are the only errors the console may show (their 4xx).
            unexpected = [m for m in problems if "status of 40" not in m]
            assert not unexpected, f"the page logged errors: {unexpected}"
        except Exception:
            page.screenshot(path=os.path.join(SHOTS, "failed.png"), full_page=True)
            print(f"FAILED at step '{step}'; page {page.url}; console: {problems}", file=sys.stderr)
            raise
        finally:
            browser.close()
    print(f"ui e2e passed; pages checked by axe-core: {len(checked)}; screenshots in {SHOTS}")


if __name__ == "__main__":
    started = time.time()
    main()
    print(f"took {time.time() - started:.1f}s")
