// The live clocks on chats (reply, resolve, offer, waiting): spans with data-clock that the
// lists and the open chat place, and one tick a second (and after every render) that sets
// their text and state from the chat's due times and the SLA timer's flags.

import { gettext, interpolate } from "../i18n.js";
import { onRender } from "./bus.js";
import { refreshCountdown } from "./socket.js";
import { config, me, state } from "./state.js";
import { clock, clockText, h, parseTime, slaClock } from "./ui.js";

const CLOCK_LABELS = {
  first_response: gettext("Reply %(time)s"),
  resolution: gettext("Resolve %(time)s"),
  offer: gettext("Offer %(time)s"),
  wait: gettext("Waiting %(time)s"),
};
const CLOCK_TITLES = {
  first_response: gettext("Time left to send the first reply"),
  resolution: gettext("Time left to resolve the chat"),
  offer: gettext("Time left to accept the offer"),
  wait: gettext("Time in the queue"),
};

export function clockSpan(kind, chat) {
  return h("span", { class: "clock", dataset: { clock: kind, cid: chat.conversation_id } });
}

/** The clocks that matter for a chat: an offer's, else its open SLA targets. */
export function chatClocks(chat) {
  if (chat.assignment_status === "offered" && chat.assigned_to === me.id) {
    return [clockSpan("offer", chat), clockSpan("first_response", chat)];
  }
  const clocks = [];
  if (!chat.first_response_at && chat.first_response_due_at) {
    clocks.push(clockSpan("first_response", chat));
  }
  if (chat.resolution_due_at) clocks.push(clockSpan("resolution", chat));
  return clocks;
}

function slaWindow(chat, kind) {
  const windows = config.sla_windows[chat.priority];
  if (windows && typeof windows[kind] === "number") return windows[kind];
  // No policy for this priority: warn in the last fifth of the target.
  const due = parseTime(kind === "first_response" ? chat.first_response_due_at : chat.resolution_due_at);
  const start = parseTime(chat.created_at);
  return due !== null && start !== null ? ((due - start) / 1000) * 0.2 : null;
}

export function tick() {
  for (const node of document.querySelectorAll("[data-clock]")) {
    const chat = state.known.get(Number(node.dataset.cid));
    if (!chat) continue;
    const kind = node.dataset.clock;
    let shown = null;
    if (kind === "wait") {
      const since = parseTime(chat.queued_at) ?? parseTime(chat.created_at);
      if (since !== null) shown = { text: clockText((clock.now() - since) / 1000), state: "ok" };
    } else if (kind === "offer") {
      shown = slaClock(chat.offer_expires_at, 10);
      if (shown && shown.left <= 0) shown.text = gettext("expiring");
    } else {
      const due = kind === "first_response" ? chat.first_response_due_at : chat.resolution_due_at;
      const flags = state.slaFlags.get(chat.conversation_id) || {};
      shown = slaClock(due, slaWindow(chat, kind), flags[kind] || null);
    }
    if (!shown) {
      node.hidden = true;
      continue;
    }
    node.hidden = false;
    node.dataset.state = shown.state;
    node.textContent = interpolate(CLOCK_LABELS[kind], { time: shown.text });
    node.title = CLOCK_TITLES[kind];
  }
  refreshCountdown();
}

export function initClocks() {
  onRender(tick);
  setInterval(tick, 1000);
}
