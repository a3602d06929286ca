// The reply box: Enter sends (Shift+Enter adds a line), one reply in flight per chat; the
// ack's message goes into the transcript at once, the events bring its delivery.

import { gettext } from "../i18n.js";
import { render } from "./bus.js";
import { live } from "./socket.js";
import { me, state } from "./state.js";
import { applyMessage } from "./sync.js";
import { keepAtBottom } from "./transcript.js";
import { byId, toast } from "./ui.js";

/** Whether the box writes an internal note rather than a reply to the customer. */
export function noteMode() {
  return byId("note-mode").checked;
}

function sendReply() {
  const id = state.selected;
  const box = byId("reply-text");
  const text = box.value.trim();
  if (id === null || !text) return;
  const key = `reply-${id}`;
  if (state.busy.has(key)) return;
  const note = noteMode();
  state.busy.add(key);
  render();
  live
    .request(note ? "note" : "reply", { conversation_id: id, text })
    .then((ack) => {
      applyMessage({
        message_id: ack.message_id,
        conversation_id: id,
        direction: "outbound",
        kind: note ? "note" : "message",
        text,
        sender_id: me.id,
        sent_at: ack.sent_at,
        delivery_status: ack.delivery_status,
      });
      if (box.value.trim() === text) box.value = "";
      keepAtBottom();
    })
    .catch((error) => {
      toast({
        title: note ? gettext("Note not saved") : gettext("Reply not sent"),
        body: error.message || error.code,
        tone: "danger",
      });
    })
    .finally(() => {
      state.busy.delete(key);
      render();
    });
}

export function initReply() {
  byId("reply-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sendReply();
  });
  for (const radio of document.querySelectorAll('input[name="reply-mode"]')) {
    radio.addEventListener("change", () => {
      byId("reply-form").classList.toggle("note-mode", noteMode());
      render();
    });
  }
  byId("reply-text").addEventListener("keydown", (event) => {
    // The canned-response picker, when open, takes Enter for itself (canned.js).
    if (event.defaultPrevented) return;
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendReply();
    }
  });
}
