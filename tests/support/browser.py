"""Headless Chromium for the browser tests: Debian's package, never a downloaded browser; and
a watch that fails a test on any Content-Security-Policy violation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Runs in every frame before the page's own scripts (Playwright injects it past the page's
# CSP). Reports through a binding, so a violation in a page that navigated away still counts.
_VIOLATION_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.__sbCspViolation(
    `${event.effectiveDirective} refused ${event.blockedURI || "(inline)"}`
      + ` at ${event.sourceFile || document.location.href}:${event.lineNumber}`
      + (event.sample ? ` "${event.sample}"` : ""),
  );
}, true);
"""


class CspWatch:
    """Every Content-Security-Policy violation in a browser context's pages, from the moment
    they open: the `securitypolicyviolation` events and Chromium's console messages about the
    policy. Browser fixtures call `assert_none()` before closing, so a violation fails the
    test even where the test itself does not look (the log-in page, a page opened in passing).
    """

    def __init__(self, context: Any) -> None:
        self.violations: list[str] = []
        context.expose_binding("__sbCspViolation", self._reported)
        context.add_init_script(_VIOLATION_LISTENER)
        context.on("console", self._console)

    def _reported(self, source: Any, text: str) -> None:
        self.violations.append(f"{source['page'].url}: {text}")

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.violations.append(f"console {message.type}: {message.text}")

    def assert_none(self) -> None:
        assert self.violations == [], "Content-Security-Policy violations:\n" + "\n".join(
            self.violations
        )


AXE_SOURCE = (
    Path(__file__).resolve().parents[2] / "frontend_static" / "vendor" / "axe-core" / "axe.min.js"
)

_AXE_RUN = """async ([within, tags]) => {
  const result = await axe.run(document, tags.length ? {runOnly: tags} : {});
  const out = [];
  for (const v of result.violations) {
    for (const node of v.nodes) {
      const el = document.querySelector(node.target[0]);
      if (!within.length || (el && within.some((s) => el.closest(s)))) {
        out.push(`${v.id}: ${node.target.join(" ")}`);
      }
    }
  }
  return out;
}"""


def axe_violations(page: Any, *within: str, tags: tuple[str, ...] = ()) -> list[str]:
    """axe-core's violations on `page` — only those inside the `within` selectors when given
    (a selector that matches nothing is no error), only the rule `tags` (e.g. "wcag2a",
    "wcag2aa") when given — as "rule: target" lines, one per element.

    Evaluated through the DevTools protocol, so the page's Content-Security-Policy (no
    injected scripts) stays as it is."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SOURCE.read_text())
    return list(page.evaluate(_AXE_RUN, [list(within), list(tags)]))
