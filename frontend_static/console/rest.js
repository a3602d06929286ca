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

/** A JSON request (POST, PATCH, DELETE) with the CSRF token; resolves to the parsed body, or
 * throws an Error whose message names the first field at fault as the API reported it. */
export async function sendJson(url, method, body = undefined) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    headers: {
      Accept: "application/json",
      "Content-Type": "application/json",
      "X-CSRFToken": config.csrf_token,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(
      errorText(data) ||
        interpolate(gettext("The server answered %(status)s."), { status: response.status }),
    );
    error.fields = data;
    throw error;
  }
  return data;
}

/** The field at fault and its message ("attributes: Keys are…"), else the error's detail. */
function errorText(data) {
  if (!data || typeof data !== "object") return "";
  const general = ["code", "detail", "non_field_errors"];
  for (const [field, value] of Object.entries(data)) {
    if (general.includes(field)) continue;
    return `${field}: ${Array.isArray(value) ? value.join(" ") : String(value)}`;
  }
  const text = data.detail ?? data.non_field_errors;
  return text ? (Array.isArray(text) ? text.join(" ") : String(text)) : "";
}
