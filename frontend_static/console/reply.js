// The reply box: Enter sends (Shift+Enter adds a line), one reply in flight per chat; the
// ack's message goes into the transcript at once, the events bring its delivery. Files picked,
// dropped or pasted (attachments.js) go with it by id; with files the text may be empty.

import { gettext } from "../i18n.js";
import { clearOutgoing, readyIds, uploading } from "./attachments.js";
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
  const note = noteMode();
  // Notes are words for colleagues: files go with replies only, so a note needs text.
  const attachmentIds = note ? [] : readyIds();
  if (id === null || (!text && attachmentIds.length === 0)) return;
  if (!note && uploading()) {
    toast({
      title: gettext("Still uploading"),
      body: gettext("Send once the files are uploaded."),
      tone: "info",
    });
    return;
  }
  const key = `reply-${id}`;
  if (state.busy.has(key)) return;
  state.busy.add(key);
  render();
  const request = { conversation_id: id, text };
  if (attachmentIds.length) request.attachment_ids = attachmentIds;
  live
    .request(note ? "note" : "reply", request)
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
        attachments: ack.attachments || [],
      });
      if (box.value.trim() === text) box.value = "";
      if (attachmentIds.length) clearOutgoing();
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
