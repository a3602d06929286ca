// Applying what the server says to the shared state (state.js): the snapshot, then each event
// as an upsert. No drawing here: socket.js emits every applied event on the bus afterwards, and
// the panels react and draw. Two happenings only this module can see go out on the bus too:
// "offer:expired" (an offer of mine expired) and "offer:settled" (a chat is no longer offered
// to me: its "new chat" toast is old news).

import { emit } from "./bus.js";
import { clock } from "./ui.js";
import { forgetIfGone, me, OPEN_ASSIGNMENTS, state, transcriptOf } from "./state.js";

const DELIVERY_RANK = { received: 0, pending: 1, failed: 2, sent: 3, delivered: 4, read: 5 };

export function applyConversation(chat) {
  if (!chat || !chat.conversation_id) return;
  const id = chat.conversation_id;
  if (state.chats.has(id) && chat.previous_assignment_status === "expired") {
    emit("offer:expired", chat);
  }
  state.known.set(id, chat);
  const mine =
    chat.assigned_to === me.id &&
    OPEN_ASSIGNMENTS.has(chat.assignment_status) &&
    chat.status !== "resolved";
  if (mine) state.chats.set(id, chat);
  else state.chats.delete(id);
  if (!mine || chat.assignment_status !== "offered") emit("offer:settled", id);
  if (chat.status === "waiting") state.queue.set(id, chat);
  else state.queue.delete(id);
  forgetIfGone(id);
}

export function applyNotification(note) {
  const pending = note.unread_count > 0 || note.urgent_count > 0;
  if (note.dismissed || !pending) state.notifications.delete(note.notification_id);
  else state.notifications.set(note.notification_id, note);
}

/** A message from the REST transcript or from a chat.message event, in one shape. */
export function normaliseMessage(row) {
  return {
    id: row.message_id ?? row.id,
    conversation_id: row.conversation_id ?? row.conversation,
    direction: row.direction,
    kind: row.kind || "message",
    text: row.text ?? "",
    sender_id: row.sender_id ?? row.sender ?? null,
    sent_at: row.sent_at,
    delivery_status: row.delivery_status,
    delivery_error: row.delivery_error || "",
    attachments: row.attachments || [],
    // A queue's automatic message (arrival, out of hours): sent by no agent.
    automatic: row.automatic === true,
  };
}

export function storeMessage(message) {
  const transcript = transcriptOf(message.conversation_id);
  const had = transcript.messages.get(message.id);
  // Whichever copy knows more about the delivery wins (a REST page can be older than events).
  if (
    had &&
    (DELIVERY_RANK[had.delivery_status] ?? 0) > (DELIVERY_RANK[message.delivery_status] ?? 0)
  ) {
    return;
  }
  transcript.messages.set(message.id, { ...had, ...message });
}

/** A supervisor's whisper (REST row or `chat.whisper` event) as a transcript entry. */
export function whisperMessage(row) {
  return {
    id: `w${row.whisper_id ?? row.id}`,
    conversation_id: row.conversation_id ?? row.conversation,
    direction: "whisper",
    text: row.text ?? "",
    sender_id: row.author_id ?? row.author ?? null,
    author_name: row.author_name || "",
    sent_at: row.created_at,
    delivery_status: "",
    delivery_error: "",
  };
}

export function applyMessage(row) {
  const message = normaliseMessage(row);
  storeMessage(message);
  // What the customer was typing has arrived: "typing…" ends with it.
  if (message.direction === "inbound") state.typing.delete(message.conversation_id);
  const chat = state.known.get(message.conversation_id);
  // A note changes nothing of the chat: no response, no new customer-facing message.
  if (chat && message.kind !== "note") {
    const updated = { ...chat, last_message_at: message.sent_at };
    // Our first reply answers the chat: the first-response clock stops (the server agrees).
    if (message.direction === "outbound" && !chat.first_response_at) {
      updated.first_response_at = message.sent_at;
    }
    applyConversation(updated);
  }
}

/** The customer's "typing…" of a chat, until its time-to-live runs out (or they stop). */
export function applyTyping(data) {
  if (data.by !== "customer") return;
  if (data.typing) {
    state.typing.set(data.conversation_id, Date.now() + (data.ttl_seconds || 6) * 1000);
  } else {
    state.typing.delete(data.conversation_id);
  }
}

function flagSla(data, stage) {
  const flags = state.slaFlags.get(data.conversation_id) || {};
  flags[data.kind] = stage;
  state.slaFlags.set(data.conversation_id, flags);
}

/** The snapshot is the whole truth: what we had goes (on a resync, events were missed). */
export function applySnapshot(data) {
  clock.sync(data.server_time);
  state.agent = data.agent;
  state.chats.clear();
  state.queue.clear();
  state.notifications.clear();
  const selected = state.known.get(state.selected);
  state.known.clear();
  for (const chat of data.queue) applyConversation(chat);
  for (const chat of data.chats) applyConversation(chat);
  if (selected && !state.known.has(state.selected)) {
    state.known.set(state.selected, selected); // still on screen; its actions follow its state
  }
  state.queueBeyond = Math.max(0, data.queue_total - data.queue.length);
  for (const note of data.notifications) applyNotification(note);
  for (const id of [...state.slaFlags.keys(), ...state.transcripts.keys()]) forgetIfGone(id);
  // Events may have been missed before this snapshot: transcripts are re-read when opened.
  for (const transcript of state.transcripts.values()) transcript.loaded = false;
}

/**
 * Apply one logged event. Returns null for a type the console does not know (nothing to
 * draw), else what listeners may want besides the event itself: `{was}`, my status before an
 * `agent.status` of mine.
 */
export function applyEvent(frame) {
  const { type, data } = frame;
  switch (type) {
    case "queue.updated":
      // A router batch's queue changes come as one frame listing them, in order (PROTOCOL.md).
      for (const chat of data.changes || [data]) applyConversation(chat);
      return {};
    case "chat.assigned":
    case "chat.offered":
    case "chat.resolved":
    case "chat.transferred":
    case "chat.updated":
    case "alert.urgent":
      applyConversation(data);
      return {};
    case "chat.message":
      applyMessage(data);
      return {};
    case "chat.whisper":
      storeMessage(whisperMessage(data));
      return {};
    case "notification":
      applyNotification(data);
      return {};
    case "mention":
      return {}; // nothing to keep: mentions.js tells the user
    case "chat.typing":
      applyTyping(data);
      return {};

    case "sla.breached":
      // A ladder step (stage "escalation") is not a second breach of the clock.
      if (data.stage !== "escalation") flagSla(data, "breached");
      return {};
    case "sla.warning":
      flagSla(data, "warning");
      return {};
    case "agent.status": {
      if (data.agent_id !== me.id) return {};
      const was = state.agent && state.agent.status;
      state.agent = data;
      return { was };
    }
    default:
      return null;
  }
}
