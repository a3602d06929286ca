// Which chat is open. Opening one loads its transcript and marks it read (soon, and only while
// the page is visible and live); "chat:selected" tells the panels that care.

import { emit, on, render } from "./bus.js";
import { live } from "./socket.js";
import { forgetIfGone, state, unreadFor } from "./state.js";
import { keepAtBottom, loadTranscript } from "./transcript.js";
import { byId } from "./ui.js";

let markReadTimer = null;

export function markReadSoon() {
  clearTimeout(markReadTimer);
  markReadTimer = setTimeout(() => {
    const id = state.selected;
    if (id === null || document.visibilityState !== "visible" || !live.live) return;
    if (unreadFor(id).unread === 0 && unreadFor(id).urgent === 0) return;
    live.request("mark_read", { conversation_id: id }).catch(() => {});
  }, 250);
}

export function openChat(id, { quiet = false } = {}) {
  const previous = state.selected;
  state.selected = id;
  if (previous !== null && previous !== id) forgetIfGone(previous);
  loadTranscript(id);
  markReadSoon();
  if (previous !== id) emit("chat:selected", id, previous);
  if (!quiet) render();
}

/** The user picked a chat: open it at its newest message, ready to reply. */
export function selectChat(id) {
  keepAtBottom();
  openChat(id);
  byId("reply-text").focus({ preventScroll: true });
}

export function initSelection() {
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") markReadSoon();
  });
  on("notification", (data) => {
    if (data.conversation_id === state.selected && data.unread_count > 0) markReadSoon();
  });
  // A fresh snapshot: the open chat's transcript is re-read (events may have been missed).
  on("snapshot", () => {
    if (state.selected !== null) openChat(state.selected, { quiet: true });
  });
}
