// Small DOM and formatting helpers shared by the console and the wallboard.
// Every piece of data reaches the page through textContent or attributes set one by one:
// nothing a customer or a colleague typed is ever parsed as HTML. Words go through gettext
// (../i18n.js); times and numbers are formatted for the user's language and time zone.

import { formatTime, gettext, interpolate } from "../i18n.js";

/**
 * Build an element: h("li", {class: "chat", dataset: {id: 3}, style: {width: "5%"}, onclick: fn},
 * "text", child…).
 * Strings become text nodes; null/false children are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    // Styles through the CSSOM: a `style` attribute is inline style, which the page's
    // Content-Security-Policy refuses.
    else if (key === "style") Object.assign(node.style, value);
    else if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "hidden" || key === "disabled") node[key] = Boolean(value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replace a container's children. Keyboard focus inside it survives the redraw: it goes
 * back to the same control of the same chat, else to the container's first control (an
 * accepted offer loses its Accept button), never to the top of the page. */
export function fill(node, children) {
  const focused = node.contains(document.activeElement) ? document.activeElement : null;
  const key = focused ? focusKey(focused) : null;
  node.replaceChildren();
  append(node, children);
  if (key) restoreFocus(node, key);
}

const CONTROLS = "button:not(:disabled), a[href], select:not(:disabled), textarea, input";

function focusKey(element) {
  const item = element.closest("[data-conversation-id]");
  return {
    item: item ? item.dataset.conversationId : null,
    className: element.className,
    label: element.getAttribute("aria-label"),
  };
}

function restoreFocus(node, key) {
  const scopes =
    key.item === null
      ? [node]
      : [...node.querySelectorAll(`[data-conversation-id="${CSS.escape(key.item)}"]`)];
  for (const scope of scopes) {
    for (const control of scope.querySelectorAll(CONTROLS)) {
      if (control.className === key.className && control.getAttribute("aria-label") === key.label) {
        control.focus({ preventScroll: true });
        return;
      }
    }
  }
  const first = node.querySelector(CONTROLS);
  if (first) first.focus({ preventScroll: true });
}

export function byId(id) {
  return document.getElementById(id);
}

export function readConfig(id) {
  return JSON.parse(byId(id).textContent);
}

// --- time ----------------------------------------------------------------------------------

/** The server's clock, as seen from here: snapshots carry `server_time`. */
export const clock = {
  offsetMs: 0,
  sync(serverTime) {
    const server = Date.parse(serverTime);
    if (!Number.isNaN(server)) this.offsetMs = server - Date.now();
  },
  now() {
    return Date.now() + this.offsetMs;
  },
};

export function parseTime(value) {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** 75 → "1:15", 3725 → "1:02:05", 158400 → "1 d 20 h". */
export function clockText(totalSeconds) {
  const s = Math.max(0, Math.floor(totalSeconds));
  if (s >= 86400) {
    return interpolate(gettext("%(days)s d %(hours)s h"), {
      days: Math.floor(s / 86400),
      hours: Math.floor((s % 86400) / 3600),
    });
  }
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const seconds = String(s % 60).padStart(2, "0");
  if (hours) return `${hours}:${String(minutes).padStart(2, "0")}:${seconds}`;
  return `${minutes}:${seconds}`;
}

/** A duration for people: "42 s", "3 min 05 s", "2 h 10 min". */
export function durationText(totalSeconds) {
  if (totalSeconds === null || totalSeconds === undefined || Number.isNaN(totalSeconds)) {
    return "—";
  }
  const s = Math.max(0, Math.round(totalSeconds));
  if (s < 60) return interpolate(gettext("%(seconds)s s"), { seconds: s });
  if (s < 3600) {
    return interpolate(gettext("%(minutes)s min %(seconds)s s"), {
      minutes: Math.floor(s / 60),
      seconds: String(s % 60).padStart(2, "0"),
    });
  }
  return interpolate(gettext("%(hours)s h %(minutes)s min"), {
    hours: Math.floor(s / 3600),
    minutes: String(Math.floor((s % 3600) / 60)).padStart(2, "0"),
  });
}

/** A time of day in the user's language and time zone ("14:05"). */
export function timeOfDay(value) {
  const ms = parseTime(value);
  if (ms === null) return "";
  return formatTime(ms);
}

/**
 * An SLA clock: {text, state} with state "ok", "warning" (inside the warning window) or
 * "breached". `flag` raises the state when the SLA timer said so (its business-time view).
 */
export function slaClock(dueAt, windowSeconds, flag = null) {
  const due = parseTime(dueAt);
  if (due === null) return null;
  const left = (due - clock.now()) / 1000;
  let state = "ok";
  if (left <= 0) state = "breached";
  else if (windowSeconds !== null && left <= windowSeconds) state = "warning";
  if (flag === "breached" || (flag === "warning" && state === "ok")) state = flag;
  const text =
    left > 0 ? clockText(left) : interpolate(gettext("%(time)s over"), { time: clockText(-left) });
  return { text, state, left };
}

export const PRIORITIES = ["urgent", "high", "medium", "low"];
const PRIORITY_RANK = { urgent: 3, high: 2, medium: 1, low: 0 };

/** Routing order: priority first, then who has waited longest. */
export function byRoutingOrder(a, b) {
  const rank = (PRIORITY_RANK[b.priority] ?? 1) - (PRIORITY_RANK[a.priority] ?? 1);
  if (rank) return rank;
  const wait = (parseTime(a.queued_at) ?? 0) - (parseTime(b.queued_at) ?? 0);
  return wait || a.conversation_id - b.conversation_id;
}

export function capitalise(text) {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : "";
}

/** A priority's name for people (the protocol's values stay English). */
export function priorityLabel(priority) {
  const labels = {
    urgent: gettext("urgent"),
    high: gettext("high"),
    medium: gettext("medium"),
    low: gettext("low"),
  };
  return labels[priority] || priority;
}

/** An agent status's name for people. */
export function statusLabel(status) {
  const labels = {
    available: gettext("available"),
    away: gettext("away"),
    offline: gettext("offline"),
  };
  return labels[status] || status;
}

/** A chat status's name for people (capitalised: it stands alone). */
export function chatStatusLabel(status) {
  const labels = {
    waiting: gettext("Waiting"),
    assigned: gettext("Assigned"),
    resolved: gettext("Resolved"),
    abandoned: gettext("Abandoned"),
  };
  return labels[status] || capitalise(status);
}

// --- SLA alerts ------------------------------------------------------------------------------

/** What a ladder step did (sla_engine/firing.py's outcome), for people. */
function outcomeText(outcome) {
  if (!outcome) return gettext("reassigned");
  if (outcome.startsWith("reassigned to supervisor")) return gettext("reassigned to a supervisor");
  if (outcome.startsWith("not possible")) return gettext("the step was not possible");
  const known = {
    "in queue": gettext("left in the queue"),
    "back to the queue for another agent": gettext("back to the queue for another agent"),
    "already with a supervisor": gettext("already with a supervisor"),
    "no available supervisor: queued as urgent": gettext(
      "no supervisor available: queued as urgent",
    ),
    failed: gettext("the step failed"),
  };
  return known[outcome] || outcome;
}

/** The title and body of an escalation-ladder step (an `sla.breached` event whose
 * `data.stage` is "escalation"): its own wording, never a second "SLA breached". */
export function escalationStepText(data, name) {
  const step = data.escalation || {};
  const firstResponse = data.kind === "first_response";
  const outcome = step.outcome || "";
  let body;
  if (step.action === "notify_supervisors") {
    body = firstResponse
      ? gettext("First response target missed: supervisors notified.")
      : gettext("Resolution target missed: supervisors notified.");
  } else if (step.action === "raise_priority" && outcome.startsWith("priority ")) {
    // firing.py's outcome is "priority <new priority>" or "already urgent".
    const priority = priorityLabel(outcome.slice("priority ".length));
    body = interpolate(
      firstResponse
        ? gettext("First response target missed: priority raised to %(priority)s.")
        : gettext("Resolution target missed: priority raised to %(priority)s."),
      { priority },
    );
  } else if (step.action === "raise_priority" && outcome === "already urgent") {
    body = firstResponse
      ? gettext("First response target missed: the chat is already urgent.")
      : gettext("Resolution target missed: the chat is already urgent.");
  } else if (step.action === "raise_priority") {
    body = firstResponse
      ? gettext("First response target missed: priority raised.")
      : gettext("Resolution target missed: priority raised.");
  } else {
    body = interpolate(
      firstResponse
        ? gettext("First response target missed: %(outcome)s.")
        : gettext("Resolution target missed: %(outcome)s."),
      { outcome: outcomeText(outcome) },
    );
  }
  const title = interpolate(gettext("Escalation step %(step)s: %(name)s"), {
    step: step.step ?? "?",
    name,
  });
  return { title, body };
}

// --- toasts --------------------------------------------------------------------------------

/**
 * A toast in one of the two live regions: `polite` (#toasts) or `urgent` (#alerts, role=alert).
 * Urgent toasts stay until dismissed or 20 s; the others 8 s. A `key` replaces the toast that
 * has the same key (an offer, then its transfer: one toast).
 */
export function toast({ title, body = "", tone = "info", urgent = false, onOpen = null, key = null }) {
  const region = byId(urgent ? "alerts" : "toasts");
  if (!region) return null;
  if (key !== null) dismissToast(key); // a newer word on the same thing replaces the older one
  const close = h(
    "button",
    { type: "button", class: "toast-close", "aria-label": gettext("Dismiss") },
    "×",
  );
  const item = h(
    "div",
    { class: `toast toast-${tone}`, dataset: key === null ? null : { key } },
    h("strong", {}, title),
    body ? h("p", {}, body) : null,
    onOpen
      ? h("button", { type: "button", class: "link-button", onclick: onOpen }, gettext("Open"))
      : null,
    close,
  );
  const remove = () => item.remove();
  close.addEventListener("click", remove);
  region.append(item);
  setTimeout(remove, urgent ? 20_000 : 8_000);
  while (region.children.length > 5) region.firstElementChild.remove();
  return item;
}

/** Remove the toast with this key (its news is old: the offer was accepted, say). */
export function dismissToast(key) {
  for (const item of document.querySelectorAll(".toast[data-key]")) {
    if (item.dataset.key === key) item.remove();
  }
}

/** Show the socket's state in the connection indicator. */
export function showConnection(node, described) {
  node.dataset.state = described.tone;
  node.textContent = described.label;
}
