"""A logged-in Chromium tab with the page checks of this folder: horizontal overflow measured in
the page, axe-core (vendored, frontend_static/vendor/axe-core) and named screenshots.

Screenshots go to test-artifacts/pages/<page>-<size>-<scheme>.png (kept by CI with the other
test artefacts; git and the Docker image ignore the folder).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from tests.support.processes import ROOT

ARTIFACTS: Final = ROOT / "test-artifacts" / "pages"
AXE_SOURCE: Final = (ROOT / "frontend_static" / "vendor" / "axe-core" / "axe.min.js").read_text()

SIZES: Final = {"desktop": (1366, 768), "phone": (390, 844)}
SCHEMES: Final = ("light", "dark")

# Every element that is wider than the box that holds it, or that reaches past the viewport,
# unless something on the way scrolls or clips on purpose (an `overflow-x` scroller, an
# ellipsis, a visually hidden label). Returns readable descriptions.
_OVERFLOWS: Final = """
() => {
  const describe = (el) => {
    const id = el.id ? `#${el.id}` : "";
    const cls = typeof el.className === "string" && el.className.trim()
      ? "." + el.className.trim().split(/\\s+/).join(".") : "";
    const text = (el.innerText || "").trim().replace(/\\s+/g, " ").slice(0, 40);
    return `${el.tagName.toLowerCase()}${id}${cls} "${text}"`;
  };
  const width = document.documentElement.clientWidth;
  const found = [];
  if (document.documentElement.scrollWidth > width + 1) {
    found.push(`the page scrolls sideways: ${document.documentElement.scrollWidth} > ${width}`);
  }
  const scrolls = (style) => ["auto", "scroll"].includes(style.overflowX);
  const clips = (style) => style.overflowX === "hidden" || style.overflowX === "clip";
  const hidden = (el, style) => style.display === "none" || style.visibility === "hidden"
    || el.getClientRects().length === 0
    || (style.position === "absolute" && el.offsetWidth <= 1);
  const walk = (el, inScroller) => {
    const style = getComputedStyle(el);
    if (hidden(el, style)) return;
    const box = el.getBoundingClientRect();
    if (!inScroller && box.width > 0 && (box.right > width + 1 || box.left < -1)) {
      const span = `${Math.round(box.left)}…${Math.round(box.right)} of ${width}`;
      found.push(`${describe(el)} reaches past the viewport (${span})`);
    }
    const rows = ["TABLE", "TBODY", "THEAD", "TR"];
    const measurable = el.clientWidth > 0 && !rows.includes(el.tagName);
    if (measurable && el.scrollWidth > el.clientWidth + 1 && !scrolls(style)) {
      const ellipsis = clips(style) && style.textOverflow === "ellipsis";
      const canvas = el.querySelector("canvas") !== null;
      // Django admin's index keeps its "Recent actions" box in #content's right margin.
      const margin = el.matches("#content.colMS");
      if (!ellipsis && !canvas && !margin && !el.matches(".visually-hidden, .load")) {
        found.push(`${describe(el)} overflows its box (${el.scrollWidth} > ${el.clientWidth})`);
      }
    }
    const scroller = inScroller || scrolls(style) || clips(style);
    for (const child of el.children) walk(child, scroller);
  };
  walk(document.body, false);
  return found;
}
"""

_AXE_RUN: Final = """
async () => {
  const result = await window.axe.run(document, {resultTypes: ["violations"], preload: false});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " — " + n.failureSummary),
    }));
}
"""


@dataclass
class Tab:
    """One person's page; records console errors, page errors and failed requests."""

    page: Any
    base: str
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)

    def _console(self, message: Any) -> None:
        # A failed load is judged by `_response`, which knows the address.
        if message.type in {"error", "warning"} and "Failed to load resource" not in message.text:
            self.problems.append(f"console {message.type} on {self.page.url}: {message.text}")

    def _response(self, response: Any) -> None:
        # Pages answer their own status (checked by `open`); Django's admin asks for a
        # /favicon.ico the site does not serve (the site's pages carry theirs inline).
        page_itself = response.request.resource_type == "document"
        favicon = response.url.endswith("/favicon.ico")
        if response.status >= 400 and not page_itself and not favicon:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def _failed(self, request: Any) -> None:
        # Leaving a page aborts its open requests (a socket, a chart's data): not a fault.
        if request.failure != "net::ERR_ABORTED":
            self.problems.append(f"failed: {request.url} {request.failure}")

    def log_in(self, username: str, password: str) -> None:
        self.page.goto(f"{self.base}/accounts/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{self.base}/")

    def open(self, path: str, *, status: int = 200) -> None:
        response = self.page.goto(f"{self.base}{path}", wait_until="load")
        assert response is not None and response.status == status, (path, response)

    def view(self, size: str, scheme: str) -> None:
        width, height = SIZES[size]
        self.page.set_viewport_size({"width": width, "height": height})
        self.page.emulate_media(color_scheme=scheme)
        # Colours that fade (the admin's buttons) are judged at their end, not halfway.
        self.page.evaluate("() => document.getAnimations().forEach((a) => a.finish())")

    def overflows(self) -> list[str]:
        found: list[str] = self.page.evaluate(_OVERFLOWS)
        return found

    def axe(self) -> list[dict[str, Any]]:
        """axe-core's serious and critical violations. Evaluated through the DevTools protocol,
        so the page's Content-Security-Policy (no inline or injected scripts) stays intact."""
        if not self.page.evaluate("() => typeof window.axe === 'object'"):
            self.page.evaluate(AXE_SOURCE)
        found: list[dict[str, Any]] = self.page.evaluate(_AXE_RUN)
        return found

    def shot(self, name: str, size: str, scheme: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}-{size}-{scheme}.png"
        self.page.screenshot(path=str(path), full_page=True)
