// The reply box: Enter sends (Shift+Enter adds a line), one reply in flight per chat; the
// ack's message goes into the transcript at once, the events bring its delivery.

import { gettext } from "../i18n.js";
import { render } from "./bus.js";
import { live } from "./socket.js";
import { me, state } from "./state.js";
import { applyMessage } from "./sync.js";
import { keepAtBottom } from "./transcript.js";
import { byId, toast } from "./ui.js";

function sendReply() {
  const id = state.selected;
  const box = byId("reply-text");
  const text = box.value.trim();
  if (id === null || !text) return;
  const key = `reply-${id}`;
  if (state.busy.has(key)) return;
  state.busy.add(key);
  render();
  live
    .request("reply", { conversation_id: id, text })
    .then((ack) => {
      applyMessage({
        message_id: ack.message_id,
        conversation_id: id,
        direction: "outbound",
        text,
        sender_id: me.id,
        sent_at: ack.sent_at,
        delivery_status: ack.delivery_status,
      });
      if (box.value.trim() === text) box.value = "";
      keepAtBottom();
    })
    .catch((error) => {
      toast({ title: gettext("Reply not sent"), body: error.message || error.code, tone: "danger" });
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
