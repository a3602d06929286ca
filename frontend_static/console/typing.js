// Typing, both ways. The customer's (`chat.typing` from the server, live only: sync.js keeps
// until when) shows as "typing…" on the open chat and in the lists, and goes by itself when
// its time runs out. Mine goes to the server (`typing`, at most every few seconds while I write
// a reply to a chat I hold) for the supervisors following the chat; notes never count.

import { gettext } from "../i18n.js";
import { on, onRender, render } from "./bus.js";
import { noteMode } from "./reply.js";
import { live } from "./socket.js";
import { customerTyping, state } from "./state.js";
import { byId } from "./ui.js";

const SEND_EVERY_MS = 4000;
let lastSent = { id: null, at: 0 };

function renderTyping() {
  const node = byId("conversation-typing");
  const typing = state.selected !== null && customerTyping(state.selected);
  node.textContent = typing ? gettext("The customer is typing…") : "";
  node.hidden = !typing;
}

function sayImTyping() {
  const id = state.selected;
  const chat = id === null ? null : state.chats.get(id);
  if (!chat || chat.assignment_status !== "accepted" || noteMode() || !live.live) return;
  const now = Date.now();
  if (lastSent.id === id && now - lastSent.at < SEND_EVERY_MS) return;
  lastSent = { id, at: now };
  live.request("typing", { conversation_id: id }).catch(() => {}); // a courtesy, never an error
}

export function initTyping() {
  on("chat.typing", (data) => {
    if (data.by !== "customer" || !data.typing) return;
    // Redraw when it runs out, so "typing…" goes without a newer event.
    setTimeout(render, (data.ttl_seconds || 6) * 1000 + 50);
  });
  byId("reply-text").addEventListener("input", sayImTyping);
  onRender(renderTyping);
}
