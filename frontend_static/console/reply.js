// The reply box: Enter sends (Shift+Enter adds a line), one reply in flight per chat; the
// ack's message goes into the transcript at once, the events bring its delivery. Files picked,
// dropped or pasted (attachments.js) go with it by id; with files the text may be empty.

import { clearOutgoing, readyIds, uploading } from "./attachments.js";
import { render } from "./bus.js";
import { live } from "./socket.js";
import { me, state } from "./state.js";
import { applyMessage } from "./sync.js";
import { keepAtBottom } from "./transcript.js";
import { byId, toast } from "./ui.js";

const t = (text) => (globalThis.gettext ? globalThis.gettext(text) : text);

function sendReply() {
  const id = state.selected;
  const box = byId("reply-text");
  const text = box.value.trim();
  const attachmentIds = readyIds();
  if (id === null || (!text && attachmentIds.length === 0)) return;
  if (uploading()) {
    toast({ title: t("Still uploading"), body: t("Send once the files are uploaded."), tone: "info" });
    return;
  }
  const key = `reply-${id}`;
  if (state.busy.has(key)) return;
  state.busy.add(key);
  render();
  const request = { conversation_id: id, text };
  if (attachmentIds.length) request.attachment_ids = attachmentIds;
  live
    .request("reply", request)
    .then((ack) => {
      applyMessage({
        message_id: ack.message_id,
        conversation_id: id,
        direction: "outbound",
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
      toast({ title: "Reply not sent", body: error.message || error.code, tone: "danger" });
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
  byId("reply-text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendReply();
    }
  });
}
