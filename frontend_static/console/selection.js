// Which chat is open, and keeping it read.
//
// The open chat is read while the page is visible: what arrives in it — live, or replayed
// after a reconnect — counts as unread nowhere on screen (no badge, not in "Unread", not in the
// total), and the server is told with `mark_read` as soon as the socket is live. That check
// runs after every render, so whatever made it impossible a moment ago (the tab was hidden, the
// socket was down, the request was lost in a drop) is retried once it can succeed.

import { emit, on, onRender, render } from "./bus.js";
import { live } from "./socket.js";
import { forgetIfGone, state, unreadFor } from "./state.js";
import { keepAtBottom, loadTranscript } from "./transcript.js";
import { byId } from "./ui.js";

/** True when the chat is open and the page visible: the agent is reading it. */
export function readOnScreen(conversationId) {
  return conversationId === state.selected && document.visibilityState === "visible";
}

/** The unread and urgent counts of a chat as the page shows them (none while on screen). */
export function shownUnread(conversationId) {
  return readOnScreen(conversationId) ? { unread: 0, urgent: 0 } : unreadFor(conversationId);
}

// Whether the open chat's unread news has been reported with mark_read. News — a
// `notification` with unread messages, a snapshot, another chat opened — or a request that
// failed makes it unreported again.
let reported = false;

function markOpenChatRead() {
  const id = state.selected;
  if (reported || id === null || document.visibilityState !== "visible" || !live.live) return;
  const { unread, urgent } = unreadFor(id);
  if (!unread && !urgent) return;
  reported = true;
  live.request("mark_read", { conversation_id: id }).catch(() => {
    // Lost in a drop (or refused): asked again on the next render while live.
    if (state.selected === id) reported = false;
  });
}

export function openChat(id, { quiet = false } = {}) {
  const previous = state.selected;
  state.selected = id;
  if (previous !== null && previous !== id) forgetIfGone(previous);
  loadTranscript(id);
  if (previous !== id) {
    reported = false;
    emit("chat:selected", id, previous);
  }
  if (!quiet) render();
}

/** The user picked a chat: open it at its newest message, ready to reply. */
export function selectChat(id) {
  keepAtBottom();
  openChat(id);
  byId("reply-text").focus({ preventScroll: true });
}

export function initSelection() {
  // Hidden, the open chat's news counts as unread again; visible, it is read.
  document.addEventListener("visibilitychange", () => render());
  // A fresh snapshot: the open chat's transcript is re-read (events may have been missed).
  on("snapshot", () => {
    reported = false;
    if (state.selected !== null) openChat(state.selected, { quiet: true });
  });
  on("notification", (data) => {
    if (data.conversation_id === state.selected && (data.unread_count || data.urgent_count)) {
      reported = false;
    }
  });
  onRender(markOpenChatRead);
}
