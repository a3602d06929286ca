// What the console knows: who I am, the page's config, and the state every panel reads.
//
// State is rebuilt from every `snapshot` and then kept by events applied as upserts (sync.js):
// every event carries the whole record (a conversation, a message, a notification, an agent),
// so the newest one simply replaces what we had (realtime/PROTOCOL.md, "Connect sequence").
// Panels read it and draw; only sync.js and the actions that answer the user write to it.

import { gettext, interpolate } from "../i18n.js";
import { readConfig } from "./ui.js";

export const config = readConfig("console-config");
export const me = config.user;
export const OPEN_ASSIGNMENTS = new Set(["offered", "accepted"]);

export const state = {
  agent: null, // my status record (agent_status_data)
  chats: new Map(), // conversation id → my offered or accepted chat
  queue: new Map(), // conversation id → waiting chat
  queueBeyond: 0, // waiting chats the snapshot did not list (WS_SNAPSHOT_LIST_LIMIT)
  known: new Map(), // every conversation seen: names, and the open panel
  notifications: new Map(), // notification id → unread or urgent notification
  transcripts: new Map(), // conversation id → {messages: Map, loaded, loading, error}
  slaFlags: new Map(), // conversation id → {first_response|resolution: "warning"|"breached"}
  typing: new Map(), // conversation id → until when (ms) the customer shows as typing
  selected: null,
  busy: new Set(), // conversation ids with an action in flight
  statusBusy: false,
  roster: null,
};

export function clientName(chat) {
  return (
    (chat.client && chat.client.name) ||
    interpolate(gettext("Chat #%(id)s"), { id: chat.conversation_id })
  );
}

export function nameOf(conversationId) {
  const chat = state.known.get(conversationId);
  return chat ? clientName(chat) : interpolate(gettext("Chat #%(id)s"), { id: conversationId });
}

/** A chat's unread and urgent counts, over its notifications. */
export function unreadFor(conversationId) {
  let unread = 0;
  let urgent = 0;
  for (const note of state.notifications.values()) {
    if (note.conversation_id === conversationId) {
      unread += note.unread_count;
      urgent += note.urgent_count;
    }
  }
  return { unread, urgent };
}

/** Whether the customer of a chat is typing now (chat.typing, live only). */
export function customerTyping(conversationId) {
  const until = state.typing.get(conversationId);
  return until !== undefined && until > Date.now();
}

export function transcriptOf(id) {
  let transcript = state.transcripts.get(id);
  if (!transcript) {
    transcript = { messages: new Map(), loaded: false, loading: null, error: null };
    state.transcripts.set(id, transcript);
  }
  return transcript;
}

/** A chat that is neither mine, nor waiting, nor open on screen is forgotten (a console stays
 * open all day: what it keeps must not grow with every chat the company ever had). */
export function forgetIfGone(id) {
  if (state.chats.has(id) || state.queue.has(id) || state.selected === id) return;
  state.known.delete(id);
  state.transcripts.delete(id);
  state.slaFlags.delete(id);
}
