// The open chat: its head (customer, facts, SLA clocks), the actions that fit its state, a line
// saying why others do not, the transcript (transcript.js) and whether the reply box is usable.

import { gettext, interpolate } from "../i18n.js";
import { onRender } from "./bus.js";
import { busyOrOffline } from "./chat-actions.js";
import { chatClocks } from "./clocks.js";
import { openChat } from "./selection.js";
import { live } from "./socket.js";
import { clientName, state, transcriptOf } from "./state.js";
import { renderTranscript } from "./transcript.js";
import { byId, chatStatusLabel, fill, h, priorityLabel } from "./ui.js";

function chatStateNote(chat, mine) {
  if (chat.status === "resolved") return gettext("This chat is resolved.");
  if (chat.status === "waiting") return gettext("Waiting in the queue. Take it to reply.");
  if (!mine) return gettext("This chat is not yours (any more).");
  if (chat.assignment_status === "offered") {
    return gettext("Offered to you: accept it (or just reply).");
  }
  return "";
}

function renderConversation() {
  const id = state.selected;
  const chat = id === null ? null : state.known.get(id);
  byId("conversation-empty").hidden = Boolean(chat);
  const body = byId("conversation-body");
  body.hidden = !chat;
  if (!chat) return;
  body.dataset.conversationId = String(id);
  const mine = state.chats.has(id);
  const offered = mine && chat.assignment_status === "offered";
  const accepted = mine && chat.assignment_status === "accepted";
  const waiting = chat.status === "waiting";
  const blocked = busyOrOffline(id);

  fill(byId("conversation-title"), [
    clientName(chat),
    chat.client && chat.client.vip ? h("span", { class: "tag tag-vip" }, gettext("VIP")) : null,
  ]);
  const facts = [
    `#${id}`,
    chat.channel && chat.channel.provider,
    interpolate(gettext("%(priority)s priority"), { priority: priorityLabel(chat.priority) }),
  ];
  if (chat.language) facts.push(chat.language);
  if (chat.category) facts.push(chat.category);
  if (chat.escalation_level) {
    facts.push(interpolate(gettext("escalated ×%(level)s"), { level: chat.escalation_level }));
  }
  facts.push(chatStatusLabel(chat.status));
  byId("conversation-meta").textContent = facts.filter(Boolean).join(" · ");
  fill(byId("conversation-sla"), mine || waiting ? chatClocks(chat) : []);

  const buttons = {
    accept: offered,
    decline: offered,
    take: waiting,
    resolve: accepted,
    transfer: accepted,
    escalate: accepted,
  };
  for (const button of byId("conversation-actions").querySelectorAll("button[data-action]")) {
    button.hidden = !buttons[button.dataset.action];
    button.disabled = blocked;
  }
  const note = byId("conversation-state");
  note.textContent = chatStateNote(chat, mine);
  note.hidden = !note.textContent;

  const transcript = transcriptOf(id);
  const notes = [];
  if (transcript.error) {
    notes.push(
      h(
        "li",
        { class: "transcript-note" },
        interpolate(gettext("The transcript could not be loaded (%(error)s). "), {
          error: transcript.error,
        }),
        h(
          "button",
          { type: "button", class: "small", onclick: () => openChat(id) },
          gettext("Try again"),
        ),
      ),
    );
  } else if (transcript.loading && !transcript.messages.size) {
    notes.push(h("li", { class: "transcript-note muted" }, gettext("Loading the transcript…")));
  }
  renderTranscript(byId("transcript"), id, notes);

  // Notes go on any chat of the company; replies only on one's own.
  const writingNote = byId("note-mode").checked;
  const canWrite = writingNote || offered || accepted;
  byId("reply-text").disabled = !canWrite;
  byId("reply-send").disabled = !(canWrite && live.live) || state.busy.has(`reply-${id}`);
  byId("reply-send").textContent = writingNote ? gettext("Add note") : gettext("Send");
}

export function initConversation() {
  onRender(renderConversation);
}
