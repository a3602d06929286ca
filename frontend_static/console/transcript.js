// The transcript of the open chat: loaded once over REST (events keep it current afterwards,
// sync.js) and drawn into #transcript in place, so only what is new is announced.

import { gettext, interpolate } from "../i18n.js";
import { attachmentList, attachmentsKey } from "./attachments.js";
import { render } from "./bus.js";
import { getAll } from "./rest.js";
import { config, transcriptOf } from "./state.js";
import { normaliseMessage, storeMessage, whisperMessage } from "./sync.js";
import { h, parseTime, timeOfDay } from "./ui.js";

const DELIVERY_TEXT = {
  pending: gettext("Sending…"),
  sent: gettext("Sent"),
  delivered: gettext("Delivered"),
  read: gettext("Read"),
  failed: gettext("Not delivered"),
};

let stickToBottom = true;

/** Scroll to the newest message on the next render (a chat was picked, a reply sent). */
export function keepAtBottom() {
  stickToBottom = true;
}

export function loadTranscript(id) {
  const transcript = transcriptOf(id);
  if (transcript.loaded) return Promise.resolve();
  if (transcript.loading) return transcript.loading;
  transcript.error = null;
  transcript.loading = Promise.all([
    getAll(`${config.api.conversations}${id}/messages/?page_size=500`),
    // Whispers from supervisors to me: highlighted, never sent to the customer.
    getAll(`${config.api.conversations}${id}/whisper/?page_size=500`).catch(() => []),
  ])
    .then(([rows, whispers]) => {
      for (const row of rows) storeMessage(normaliseMessage(row));
      for (const row of whispers) storeMessage(whisperMessage(row));
      transcript.loaded = true;
    })
    .catch((error) => {
      transcript.error = error.message;
    })
    .finally(() => {
      transcript.loading = null;
      render();
    });
  return transcript.loading;
}

function whisperItem(message) {
  return h(
    "li",
    {
      class: "message whisper",
      dataset: { messageId: message.id, delivery: "", meta: timeOfDay(message.sent_at) },
    },
    h(
      "span",
      { class: "whisper-label" },
      message.author_name
        ? interpolate(
            gettext("Whisper from %(name)s (only you see this)"),
            { name: message.author_name },
            true,
          )
        : gettext("Whisper (only you see this)"),
    ),
    h("p", { class: "message-text" }, message.text),
    h("span", { class: "message-meta" }, timeOfDay(message.sent_at)),
  );
}

function messageItem(message) {
  if (message.direction === "whisper") return whisperItem(message);
  const note = message.kind === "note";
  const outbound = message.direction === "outbound";
  const automatic = outbound && !note && message.automatic;
  const delivery = outbound && !note ? DELIVERY_TEXT[message.delivery_status] || "" : "";
  const meta = [
    timeOfDay(message.sent_at),
    delivery ? ` · ${delivery}` : "",
    message.delivery_status === "failed" && message.delivery_error
      ? ` (${message.delivery_error})`
      : "",
  ].join("");
  const files = attachmentsKey(message.attachments);
  return h(
    "li",
    {
      class: note
        ? "message internal-note"
        : `message ${outbound ? "outbound" : "inbound"}${automatic ? " automatic" : ""}`,
      dataset: {
        messageId: message.id,
        kind: message.kind || "message",
        delivery: message.delivery_status || "",
        meta,
        files,
      },
    },
    note ? h("span", { class: "note-flag" }, gettext("Internal note · not sent to the customer")) : null,
    automatic
      ? h("span", { class: "automatic-flag" }, gettext("Automatic message · sent by the queue"))
      : null,
    message.text ? h("p", { class: "message-text" }, message.text) : null,
    attachmentList(message.attachments),
    h("span", { class: "message-meta" }, meta),
  );
}

/**
 * Bring the transcript list up to date in place: new messages are inserted, changed ones
 * (delivery status) updated, nothing else is touched — so a screen reader announces only what
 * is new in the log, and a text selection survives the events of other chats. `notes` (a
 * loading line, an error) go after the messages.
 */
export function renderTranscript(log, id, notes) {
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  if (log.dataset.conversationId !== String(id)) {
    log.replaceChildren();
    log.dataset.conversationId = String(id);
  }
  const transcript = transcriptOf(id);
  const messages = [...transcript.messages.values()].sort(
    (a, b) =>
      (parseTime(a.sent_at) ?? 0) - (parseTime(b.sent_at) ?? 0) ||
      String(a.id).localeCompare(String(b.id), undefined, { numeric: true }),
  );
  const wanted = new Set(messages.map((message) => String(message.id)));
  const existing = new Map();
  for (const node of [...log.children]) {
    if (node.dataset.messageId && wanted.has(node.dataset.messageId)) {
      existing.set(node.dataset.messageId, node);
    } else {
      node.remove(); // notes are redrawn below
    }
  }
  let cursor = log.firstElementChild;
  for (const message of messages) {
    const fresh = messageItem(message);
    let node = existing.get(String(message.id));
    if (!node) {
      node = fresh;
    } else if (node.dataset.files !== fresh.dataset.files) {
      // Its files arrived or failed (a later chat.message with the same id): redraw it.
      node.replaceWith(fresh);
      if (node === cursor) cursor = fresh;
      node = fresh;
    } else if (node.dataset.meta !== fresh.dataset.meta) {
      // Only the delivery line changes: update it in place (the node keeps its place).
      node.dataset.meta = fresh.dataset.meta;
      node.dataset.delivery = fresh.dataset.delivery;
      node.querySelector(".message-meta").textContent = fresh.dataset.meta;
    }
    if (node !== cursor) log.insertBefore(node, cursor);
    cursor = node.nextElementSibling;
  }
  for (const note of notes) log.append(note);
  log.dataset.loaded = transcript.loaded ? "true" : "false";
  if (atBottom || stickToBottom) log.scrollTop = log.scrollHeight;
  stickToBottom = false;
  return messages.length;
}
