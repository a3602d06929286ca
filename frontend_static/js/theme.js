// The colour-scheme toggle of the top bar (templates/switchboard/site_nav_links.html).
// Without this module the toggle is a plain form post that reloads the page; with it the
// same form is sent in the background and the page switches in place (a console keeps its
// socket). The server stores the choice and renders <html data-theme> on the next page.
import { gettext } from "./i18n.js";

const form = document.getElementById("theme-toggle");
const status = document.getElementById("theme-status");

function show(theme) {
  document.documentElement.dataset.theme = theme;
  for (const button of form.querySelectorAll("button[name=theme]")) {
    button.setAttribute("aria-pressed", String(button.value === theme));
  }
}

async function choose(theme) {
  const body = new FormData(form);
  body.set("theme", theme);
  const previous = document.documentElement.dataset.theme;
  show(theme);
  status.textContent = "";
  try {
    const response = await fetch(form.action, {
      method: "POST",
      body,
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (!response.ok) throw new Error(String(response.status));
  } catch {
    show(previous);
    status.textContent = gettext("The colour scheme could not be saved. Please try again.");
  }
}

if (form) {
  form.addEventListener("submit", (event) => {
    const button = event.submitter;
    if (!button || button.name !== "theme") return;
    event.preventDefault();
    choose(button.value);
  });
}
