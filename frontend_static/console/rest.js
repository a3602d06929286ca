// The few REST calls of the console (the socket carries everything live): JSON in and out,
// with the session cookie, every page of a paginated list.

import { gettext, interpolate } from "../i18n.js";
import { config } from "./state.js";

export async function getJson(url) {
  const response = await fetch(url, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!response.ok) {
    throw new Error(
      interpolate(gettext("The server answered %(status)s."), { status: response.status }),
    );
  }
  return response.json();
}

export async function getAll(url) {
  const rows = [];
  let next = url;
  while (next) {
    const page = await getJson(next);
    rows.push(...page.results);
    next = page.next;
  }
  return rows;
}

/** POST with the CSRF token; the Response as it came (callers read its status). */
export function post(url) {
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRFToken": config.csrf_token },
  });
}
