// The agent console (/console/): the queue, my chats with live SLA clocks, the transcript and
// the reply box, chat actions, my status, unread badges and toasts — all live over /ws/agent/.
//
// State is rebuilt from every `snapshot` and then kept by events applied as upserts: every
// event carries the whole record (a conversation, a message, a notification, an agent), so the
// newest one simply replaces what we had (realtime/PROTOCOL.md, "Connect sequence").

import { describeState, exposeDebug, LiveSocket } from "./live.js";
import {
  byId,
  byRoutingOrder,
  capitalise,
  clock,
  clockText,
  dismissToast,
  escalationStepText,
  fill,
  h,
  parseTime,
  readConfig,
  showConnection,
  slaClock,
  timeOfDay,
  toast,
} from "./ui.js";

const config = readConfig("console-config");
const me = config.user;
const OPEN_ASSIGNMENTS = new Set(["offered", "accepted"]);
const DELIVERY_RANK = { received: 0, pending: 1, failed: 2, sent: 3, delivered: 4, read: 5 };
const DELIVERY_TEXT = {
  pending: "Sending…",
  sent: "Sent",
  delivered: "Delivered",
  read: "Read",
  failed: "Not delivered",
};

const state = {
  agent: null, // my status record (agent_status_data)
  chats: new Map(), // conversation id → my offered or accepted chat
  queue: new Map(), // conversation id → waiting chat
  queueBeyond: 0, // waiting chats the snapshot did not list (WS_SNAPSHOT_LIST_LIMIT)
  known: new Map(), // every conversation seen: names, and the open panel
  notifications: new Map(), // notification id → unread or urgent notification
  transcripts: new Map(), // conversation id → {messages: Map, loaded, loading, error}
  slaFlags: new Map(), // conversation id → {first_response|resolution: "warning"|"breached"}
  selected: null,
  busy: new Set(), // conversation ids with an action in flight
  statusBusy: false,
  roster: null,
};

// --- applying what the server says ----------------------------------------------------------

function applyConversation(chat) {
  if (!chat || !chat.conversation_id) return;
  const id = chat.conversation_id;
  if (state.chats.has(id) && chat.previous_assignment_status === "expired") {
    toast({ title: `Offer expired: ${clientName(chat)}`, body: "The chat went back to the queue." });
  }
  state.known.set(id, chat);
  const mine =
    chat.assigned_to === me.id &&
    OPEN_ASSIGNMENTS.has(chat.assignment_status) &&
    chat.status !== "resolved";
  if (mine) state.chats.set(id, chat);
  else state.chats.delete(id);
  // The "new chat" toast is old news once the offer is taken, declined or gone.
  if (!mine || chat.assignment_status !== "offered") dismissToast(`chat-${id}`);
  if (chat.status === "waiting") state.queue.set(id, chat);
  else state.queue.delete(id);
  forgetIfGone(id);
}

/** A chat that is neither mine, nor waiting, nor open on screen is forgotten (a console stays
 * open all day: what it keeps must not grow with every chat the company ever had). */
function forgetIfGone(id) {
  if (state.chats.has(id) || state.queue.has(id) || state.selected === id) return;
  state.known.delete(id);
  state.transcripts.delete(id);
  state.slaFlags.delete(id);
}

function applyNotification(note) {
  const pending = note.unread_count > 0 || note.urgent_count > 0;
  if (note.dismissed || !pending) state.notifications.delete(note.notification_id);
  else state.notifications.set(note.notification_id, note);
}

function transcriptOf(id) {
  let transcript = state.transcripts.get(id);
  if (!transcript) {
    transcript = { messages: new Map(), loaded: false, loading: null, error: null };
    state.transcripts.set(id, transcript);
  }
  return transcript;
}

/** A message from the REST transcript or from a chat.message event, in one shape. */
function normaliseMessage(row) {
  return {
    id: row.message_id ?? row.id,
    conversation_id: row.conversation_id ?? row.conversation,
    direction: row.direction,
    text: row.text ?? "",
    sender_id: row.sender_id ?? row.sender ?? null,
    sent_at: row.sent_at,
    delivery_status: row.delivery_status,
    delivery_error: row.delivery_error || "",
  };
}

function storeMessage(message) {
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

function applyMessage(row) {
  const message = normaliseMessage(row);
  storeMessage(message);
  const chat = state.known.get(message.conversation_id);
  if (chat) {
    const updated = { ...chat, last_message_at: message.sent_at };
    // Our first reply answers the chat: the first-response clock stops (the server agrees).
    if (message.direction === "outbound" && !chat.first_response_at) {
      updated.first_response_at = message.sent_at;
    }
    applyConversation(updated);
  }
}

function flagSla(data, stage) {
  const flags = state.slaFlags.get(data.conversation_id) || {};
  flags[data.kind] = stage;
  state.slaFlags.set(data.conversation_id, flags);
}

function onSnapshot(data) {
  clock.sync(data.server_time);
  // The snapshot is the whole truth: drop what we had (on a resync, events were missed).
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
  if (data.resync) {
    toast({ title: "Reconnected", body: "Some updates were missed, so everything was reloaded." });
  }
  if (state.selected !== null) openChat(state.selected, { quiet: true });
  render();
}

function onEvent(frame) {
  const { type, data } = frame;
  switch (type) {
    case "queue.updated":
    case "chat.assigned":
      applyConversation(data);
      break;
    case "chat.offered":
      applyConversation(data);
      if (data.assigned_to === me.id) {
        toast({
          title: "New chat for you",
          body: `${clientName(data)} · ${data.priority} priority`,
          tone: data.priority === "urgent" ? "danger" : "info",
          key: `chat-${data.conversation_id}`,
          onOpen: () => selectChat(data.conversation_id),
        });
      }
      break;
    case "chat.resolved":
      applyConversation(data);
      break;
    case "chat.transferred":
      applyConversation(data);
      if (data.to_agent_id === me.id) {
        const what = data.kind === "escalation" ? "Escalated to you" : "Transferred to you";
        toast({
          title: `${what}: ${clientName(data)}`,
          body: data.reason || "",
          tone: "warning",
          urgent: data.kind === "escalation",
          // A transfer is an offer (its toast goes once it is taken); an escalation is not.
          key: `${data.kind === "escalation" ? "escalated" : "chat"}-${data.conversation_id}`,
          onOpen: () => selectChat(data.conversation_id),
        });
      }
      break;
    case "chat.message":
      applyMessage(data);
      break;
    case "notification":
      applyNotification(data);
      if (data.conversation_id === state.selected && data.unread_count > 0) markReadSoon();
      break;
    case "alert.urgent":
      applyConversation(data);
      toast({
        title: `Urgent: ${clientName(data)}`,
        body: data.text || data.reason || "A chat needs attention now.",
        tone: "danger",
        urgent: true,
        onOpen: () => selectChat(data.conversation_id),
      });
      break;
    case "sla.breached":
      if (data.stage === "escalation") {
        // A ladder step on my chat (a raised priority): its own words, not a second breach.
        toast({
          ...escalationStepText(data, nameOf(data.conversation_id)),
          tone: "warning",
          key: `sla-step-${data.conversation_id}-${data.kind}-${data.escalation?.step}`,
          onOpen: () => selectChat(data.conversation_id),
        });
        break;
      }
    // falls through: the breach itself
    case "sla.warning": {
      const breached = type === "sla.breached";
      flagSla(data, breached ? "breached" : "warning");
      const what = data.kind === "first_response" ? "First response" : "Resolution";
      toast({
        title: `${breached ? "SLA breached" : "SLA warning"}: ${nameOf(data.conversation_id)}`,
        body: breached ? `${what} target missed.` : `${what} due at ${timeOfDay(data.due_at)}.`,
        tone: breached ? "danger" : "warning",
        // Loud for my own chats; a waiting chat's clock (agent_id null) concerns everyone a bit.
        urgent: breached && data.agent_id === me.id,
        onOpen: () => selectChat(data.conversation_id),
      });
      break;
    }
    case "agent.status":
      if (data.agent_id === me.id) {
        const was = state.agent && state.agent.status;
        state.agent = data;
        if (was && was !== data.status && !state.statusBusy) {
          toast({ title: `You are now ${data.status}`, tone: "warning" });
        }
      }
      break;
    default:
      return;
  }
  render();
}

function clientName(chat) {
  return (chat.client && chat.client.name) || `Chat #${chat.conversation_id}`;
}

function nameOf(conversationId) {
  const chat = state.known.get(conversationId);
  return chat ? clientName(chat) : `Chat #${conversationId}`;
}

function unreadFor(conversationId) {
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

// --- the socket ---------------------------------------------------------------------------

const connectionNode = byId("connection");
let lastConnection = { state: "idle", detail: {} };

const live = new LiveSocket({
  url: config.ws_url,
  heartbeatSeconds: config.heartbeat_seconds,
  onSnapshot,
  onEvent,
  onState(socketState, detail) {
    lastConnection = { state: socketState, detail };
    showConnection(connectionNode, describeState(socketState, detail));
    render();
  },
});
exposeDebug(live, { state });

function act(action, fields, { conversationId = null, success = null } = {}) {
  if (conversationId !== null) state.busy.add(conversationId);
  render();
  return live
    .request(action, fields)
    .then((result) => {
      const title = typeof success === "function" ? success(result) : success;
      if (title) toast({ title, tone: "ok" });
      return result;
    })
    .catch((error) => {
      toast({
        title: `Could not ${action.replace("_", " ")}`,
        body: error.message || error.code,
        tone: "danger",
      });
      throw error;
    })
    .finally(() => {
      if (conversationId !== null) state.busy.delete(conversationId);
      render();
    });
}

// --- REST: transcript, roster, dismiss -------------------------------------------------------

async function getJson(url) {
  const response = await fetch(url, {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (!response.ok) throw new Error(`The server answered ${response.status}.`);
  return response.json();
}

async function getAll(url) {
  const rows = [];
  let next = url;
  while (next) {
    const page = await getJson(next);
    rows.push(...page.results);
    next = page.next;
  }
  return rows;
}

function loadTranscript(id) {
  const transcript = transcriptOf(id);
  if (transcript.loaded) return Promise.resolve();
  if (transcript.loading) return transcript.loading;
  transcript.error = null;
  transcript.loading = getAll(`${config.api.conversations}${id}/messages/?page_size=500`)
    .then((rows) => {
      for (const row of rows) storeMessage(normaliseMessage(row));
      transcript.loaded = true;
    })
    .catch((error) => {
      transcript.error = error.message;
    })
    .finally(() => {
      transcript.loading = null;
      render();
    });
  return transcript.loading;
}

async function loadRoster() {
  const rows = await getAll(`${config.api.users}?is_active=true&page_size=500`);
  state.roster = rows.filter(
    (user) => (user.role === "agent" || user.role === "supervisor") && user.id !== me.id,
  );
  return state.roster;
}

async function dismissNotification(note) {
  const response = await fetch(`${config.api.notifications}${note.notification_id}/dismiss/`, {
    method: "POST",
    credentials: "same-origin",
    headers: { Accept: "application/json", "X-CSRFToken": config.csrf_token },
  });
  if (!response.ok) {
    toast({ title: "Could not dismiss", body: `The server answered ${response.status}.` });
    return;
  }
  // The server also tells every open console (a `notification` with dismissed: true).
  applyNotification(await response.json().then((row) => ({ ...note, ...row, dismissed: true })));
  render();
}

// --- choosing a chat ------------------------------------------------------------------------

let markReadTimer = null;

function markReadSoon() {
  clearTimeout(markReadTimer);
  markReadTimer = setTimeout(() => {
    const id = state.selected;
    if (id === null || document.visibilityState !== "visible" || !live.live) return;
    if (unreadFor(id).unread === 0 && unreadFor(id).urgent === 0) return;
    live.request("mark_read", { conversation_id: id }).catch(() => {});
  }, 250);
}

function openChat(id, { quiet = false } = {}) {
  const previous = state.selected;
  state.selected = id;
  if (previous !== null && previous !== id) forgetIfGone(previous);
  loadTranscript(id);
  markReadSoon();
  if (!quiet) render();
}

function selectChat(id) {
  stickToBottom = true;
  openChat(id);
  byId("reply-text").focus({ preventScroll: true });
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible") markReadSoon();
});

// --- rendering ------------------------------------------------------------------------------

let renderQueued = false;
let stickToBottom = true;

function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderNow();
  });
}

function renderNow() {
  renderStatus();
  renderMyChats();
  renderQueue();
  renderNotifications();
  renderConversation();
  tick();
}

function renderStatus() {
  const select = byId("status-select");
  const status = state.agent ? state.agent.status : "";
  if (!state.statusBusy && select.value !== status) select.value = status;
  select.disabled = !live.live || state.statusBusy || !state.agent;
  select.dataset.status = status;
  byId("reconnect").hidden = ["live", "connecting", "reconnecting", "idle"].includes(
    lastConnection.state,
  );
}

function clockSpan(kind, chat) {
  return h("span", { class: "clock", dataset: { clock: kind, cid: chat.conversation_id } });
}

function chatClocks(chat) {
  if (chat.assignment_status === "offered" && chat.assigned_to === me.id) {
    return [clockSpan("offer", chat), clockSpan("first_response", chat)];
  }
  const clocks = [];
  if (!chat.first_response_at && chat.first_response_due_at) {
    clocks.push(clockSpan("first_response", chat));
  }
  if (chat.resolution_due_at) clocks.push(clockSpan("resolution", chat));
  return clocks;
}

function badges(chat) {
  const { unread, urgent } = unreadFor(chat.conversation_id);
  if (!unread && !urgent) return null;
  const count = unread || urgent;
  return h(
    "span",
    {
      class: urgent ? "badge badge-urgent" : "badge",
      "aria-label": `${count} unread${urgent ? ", urgent" : ""}`,
    },
    String(count),
  );
}

// The clickable summary of a chat in a list: name, VIP and priority (then `tags`), and a sub
// line of `details`.
function chatButton(chat, details, tags = null) {
  const id = chat.conversation_id;
  return h(
    "button",
    {
      type: "button",
      class: "chat-open",
      "aria-current": state.selected === id ? "true" : null,
      onclick: () => selectChat(id),
    },
    h(
      "span",
      { class: "chat-line" },
      h("span", { class: "chat-name" }, clientName(chat)),
      chat.client && chat.client.vip ? h("span", { class: "tag tag-vip" }, "VIP") : null,
      h("span", { class: `tag priority priority-${chat.priority}` }, chat.priority),
      tags,
    ),
    h("span", { class: "chat-line chat-sub" }, ...details),
  );
}

function busyOrOffline(id) {
  return !live.live || state.busy.has(id);
}

function renderMyChats() {
  const list = byId("my-chats");
  const chats = [...state.chats.values()].sort((a, b) => {
    const offered = (b.assignment_status === "offered") - (a.assignment_status === "offered");
    return offered || (parseTime(a.created_at) ?? 0) - (parseTime(b.created_at) ?? 0);
  });
  fill(
    list,
    chats.map((chat) => {
      const id = chat.conversation_id;
      const offered = chat.assignment_status === "offered";
      return h(
        "li",
        {
          class: `chat-item priority-${chat.priority}${offered ? " offered" : ""}${state.selected === id ? " selected" : ""}`,
          dataset: { conversationId: id, assignment: chat.assignment_status },
        },
        chatButton(
          chat,
          [
            h("span", { class: "muted" }, `#${id} · ${chat.channel ? chat.channel.provider : ""}`),
            ...chatClocks(chat),
          ],
          badges(chat),
        ),
        offered
          ? h(
              "span",
              { class: "chat-actions" },
              h(
                "button",
                {
                  type: "button",
                  class: "primary small",
                  "aria-label": `Accept chat with ${clientName(chat)}`,
                  disabled: busyOrOffline(id),
                  onclick: () => accept(id),
                },
                "Accept",
              ),
              h(
                "button",
                {
                  type: "button",
                  class: "small",
                  "aria-label": `Decline chat with ${clientName(chat)}`,
                  disabled: busyOrOffline(id),
                  onclick: () => openDecline(id),
                },
                "Decline",
              ),
            )
          : null,
      );
    }),
  );
  byId("my-chats-count").textContent = String(chats.length);
  byId("my-chats-empty").hidden = chats.length > 0;
}

function renderQueue() {
  const list = byId("queue");
  const waiting = [...state.queue.values()].sort(byRoutingOrder);
  fill(
    list,
    waiting.map((chat) => {
      const id = chat.conversation_id;
      return h(
        "li",
        {
          class: `chat-item priority-${chat.priority}${state.selected === id ? " selected" : ""}`,
          dataset: { conversationId: id },
        },
        chatButton(chat, [
          h("span", { class: "muted" }, `#${id}`),
          clockSpan("wait", chat),
          chat.first_response_due_at ? clockSpan("first_response", chat) : null,
        ]),
        h(
          "span",
          { class: "chat-actions" },
          h(
            "button",
            {
              type: "button",
              class: "small",
              "aria-label": `Take chat with ${clientName(chat)} from the queue`,
              disabled: busyOrOffline(id),
              onclick: () => accept(id),
            },
            "Take",
          ),
        ),
      );
    }),
  );
  byId("queue-count").textContent = String(waiting.length + state.queueBeyond);
  byId("queue-empty").hidden = waiting.length > 0;
  const more = byId("queue-more");
  more.hidden = state.queueBeyond === 0;
  more.textContent = `…and ${state.queueBeyond} more waiting (the console lists the first ${waiting.length}).`;
}

function renderNotifications() {
  const notes = [...state.notifications.values()].sort(
    (a, b) => (parseTime(b.last_message_at) ?? 0) - (parseTime(a.last_message_at) ?? 0),
  );
  let total = 0;
  fill(
    byId("notifications"),
    notes.map((note) => {
      total += note.unread_count;
      const name = note.conversation_id ? nameOf(note.conversation_id) : "A customer";
      return h(
        "li",
        {
          class: note.urgent_count ? "note urgent" : "note",
          dataset: { notificationId: note.notification_id },
        },
        h(
          "button",
          {
            type: "button",
            class: "note-open",
            disabled: !note.conversation_id,
            onclick: () => note.conversation_id && selectChat(note.conversation_id),
          },
          h(
            "span",
            { class: "chat-line" },
            h("strong", {}, name),
            h(
              "span",
              {
                class: note.urgent_count ? "badge badge-urgent" : "badge",
                "aria-label": `${note.unread_count} unread`,
              },
              String(note.unread_count || note.urgent_count),
            ),
          ),
          h("span", { class: "note-text" }, note.last_text || ""),
        ),
        h(
          "button",
          {
            type: "button",
            class: "small",
            "aria-label": `Dismiss the notification from ${name}`,
            onclick: () => dismissNotification(note),
          },
          "Dismiss",
        ),
      );
    }),
  );
  byId("notifications-empty").hidden = notes.length > 0;
  const badge = byId("unread-total");
  badge.hidden = total === 0;
  badge.textContent = String(total);
  badge.setAttribute("aria-label", `${total} unread messages`);
  document.title = `${total ? `(${total}) ` : ""}Console · Switchboard`;
}

function messageItem(message) {
  const outbound = message.direction === "outbound";
  const delivery = outbound ? DELIVERY_TEXT[message.delivery_status] || "" : "";
  const meta = [
    timeOfDay(message.sent_at),
    delivery ? ` · ${delivery}` : "",
    message.delivery_status === "failed" && message.delivery_error
      ? ` (${message.delivery_error})`
      : "",
  ].join("");
  return h(
    "li",
    {
      class: `message ${outbound ? "outbound" : "inbound"}`,
      dataset: { messageId: message.id, delivery: message.delivery_status || "", meta },
    },
    h("p", { class: "message-text" }, message.text),
    h("span", { class: "message-meta" }, meta),
  );
}

/**
 * Bring the transcript list up to date in place: new messages are inserted, changed ones
 * (delivery status) updated, nothing else is touched — so a screen reader announces only what
 * is new in the log, and a text selection survives the events of other chats.
 */
function renderTranscript(log, id, notes) {
  if (log.dataset.conversationId !== String(id)) {
    log.replaceChildren();
    log.dataset.conversationId = String(id);
  }
  const messages = [...transcriptOf(id).messages.values()].sort(
    (a, b) => (parseTime(a.sent_at) ?? 0) - (parseTime(b.sent_at) ?? 0) || a.id - b.id,
  );
  const wanted = new Set(messages.map((message) => String(message.id)));
  const existing = new Map();
  for (const node of [...log.children]) {
    if (node.dataset.messageId && wanted.has(node.dataset.messageId)) {
      existing.set(node.dataset.messageId, node);
    } else {
      node.remove(); // notes are redrawn below
    }
  }
  let cursor = log.firstElementChild;
  for (const message of messages) {
    const fresh = messageItem(message);
    let node = existing.get(String(message.id));
    if (!node) {
      node = fresh;
    } else if (node.dataset.meta !== fresh.dataset.meta) {
      // Only the delivery line changes: update it in place (the node keeps its place).
      node.dataset.meta = fresh.dataset.meta;
      node.dataset.delivery = fresh.dataset.delivery;
      node.querySelector(".message-meta").textContent = fresh.dataset.meta;
    }
    if (node !== cursor) log.insertBefore(node, cursor);
    cursor = node.nextElementSibling;
  }
  for (const note of notes) log.append(note);
  return messages.length;
}

function chatStateNote(chat, mine) {
  if (chat.status === "resolved") return "This chat is resolved.";
  if (chat.status === "waiting") return "Waiting in the queue. Take it to reply.";
  if (!mine) return "This chat is not yours (any more).";
  if (chat.assignment_status === "offered") return "Offered to you: accept it (or just reply).";
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
    chat.client && chat.client.vip ? h("span", { class: "tag tag-vip" }, "VIP") : null,
  ]);
  const facts = [`#${id}`, chat.channel && chat.channel.provider, `${chat.priority} priority`];
  if (chat.language) facts.push(chat.language);
  if (chat.category) facts.push(chat.category);
  if (chat.escalation_level) facts.push(`escalated ×${chat.escalation_level}`);
  facts.push(capitalise(chat.status));
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

  const log = byId("transcript");
  const transcript = transcriptOf(id);
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const notes = [];
  if (transcript.error) {
    notes.push(
      h(
        "li",
        { class: "transcript-note" },
        `The transcript could not be loaded (${transcript.error}). `,
        h(
          "button",
          { type: "button", class: "small", onclick: () => openChat(id) },
          "Try again",
        ),
      ),
    );
  } else if (transcript.loading && !transcript.messages.size) {
    notes.push(h("li", { class: "transcript-note muted" }, "Loading the transcript…"));
  }
  renderTranscript(log, id, notes);
  log.dataset.loaded = transcript.loaded ? "true" : "false";
  if (atBottom || stickToBottom) log.scrollTop = log.scrollHeight;
  stickToBottom = false;

  const canReply = (offered || accepted) && live.live;
  byId("reply-text").disabled = !(offered || accepted);
  byId("reply-send").disabled = !canReply || state.busy.has(`reply-${id}`);
}

// --- clocks, once a second ------------------------------------------------------------------

function slaWindow(chat, kind) {
  const windows = config.sla_windows[chat.priority];
  if (windows && typeof windows[kind] === "number") return windows[kind];
  // No policy for this priority: warn in the last fifth of the target.
  const due = parseTime(kind === "first_response" ? chat.first_response_due_at : chat.resolution_due_at);
  const start = parseTime(chat.created_at);
  return due !== null && start !== null ? ((due - start) / 1000) * 0.2 : null;
}

const CLOCK_LABELS = { first_response: "Reply", resolution: "Resolve", offer: "Offer", wait: "Waiting" };

function tick() {
  for (const node of document.querySelectorAll("[data-clock]")) {
    const chat = state.known.get(Number(node.dataset.cid));
    if (!chat) continue;
    const kind = node.dataset.clock;
    let shown = null;
    if (kind === "wait") {
      const since = parseTime(chat.queued_at) ?? parseTime(chat.created_at);
      if (since !== null) shown = { text: clockText((clock.now() - since) / 1000), state: "ok" };
    } else if (kind === "offer") {
      shown = slaClock(chat.offer_expires_at, 10);
      if (shown && shown.left <= 0) shown.text = "expiring";
    } else {
      const due = kind === "first_response" ? chat.first_response_due_at : chat.resolution_due_at;
      const flags = state.slaFlags.get(chat.conversation_id) || {};
      shown = slaClock(due, slaWindow(chat, kind), flags[kind] || null);
    }
    if (!shown) {
      node.hidden = true;
      continue;
    }
    node.hidden = false;
    node.dataset.state = shown.state;
    node.textContent = `${CLOCK_LABELS[kind]} ${shown.text}`;
    node.title =
      kind === "first_response"
        ? "Time left to send the first reply"
        : kind === "resolution"
          ? "Time left to resolve the chat"
          : kind === "offer"
            ? "Time left to accept the offer"
            : "Time in the queue";
  }
  if (lastConnection.state === "waiting") {
    showConnection(connectionNode, describeState(lastConnection.state, lastConnection.detail));
  }
}

setInterval(tick, 1000);

// --- actions --------------------------------------------------------------------------------

function accept(id) {
  act("accept", { conversation_id: id }, { conversationId: id })
    .then(() => selectChat(id))
    .catch(() => {});
}

function resolve(id) {
  act("resolve", { conversation_id: id }, { conversationId: id, success: "Chat resolved" }).catch(
    () => {},
  );
}

function openDecline(id) {
  const dialog = byId("decline-dialog");
  dialog.dataset.conversationId = String(id);
  byId("decline-reason").value = "";
  byId("decline-client").textContent = nameOf(id);
  dialog.showModal();
}

function openEscalate(id) {
  const dialog = byId("escalate-dialog");
  dialog.dataset.conversationId = String(id);
  byId("escalate-reason").value = "";
  byId("escalate-client").textContent = nameOf(id);
  dialog.showModal();
}

async function openTransfer(id) {
  const dialog = byId("transfer-dialog");
  dialog.dataset.conversationId = String(id);
  byId("transfer-reason").value = "";
  byId("transfer-client").textContent = nameOf(id);
  const select = byId("transfer-target");
  fill(select, [
    h("option", { value: "queue" }, "Back to the queue"),
    h("option", { value: "", disabled: true }, "Loading colleagues…"),
  ]);
  dialog.showModal();
  try {
    const roster = await loadRoster();
    fill(select, [
      h("option", { value: "queue" }, "Back to the queue"),
      ...roster.map((user) =>
        h(
          "option",
          { value: String(user.id) },
          `${[user.first_name, user.last_name].filter(Boolean).join(" ") || user.username} (${user.status}${user.role === "supervisor" ? ", supervisor" : ""})`,
        ),
      ),
    ]);
  } catch (error) {
    fill(select, [h("option", { value: "queue" }, "Back to the queue")]);
    toast({ title: "Could not load your colleagues", body: error.message, tone: "warning" });
  }
}

function onDialogSubmit(dialogId, handler) {
  byId(dialogId)
    .querySelector("form")
    .addEventListener("submit", (event) => {
      if (!event.submitter || event.submitter.value !== "ok") return;
      handler(Number(byId(dialogId).dataset.conversationId));
    });
}

onDialogSubmit("decline-dialog", (id) => {
  const reason = byId("decline-reason").value.trim();
  act("decline", { conversation_id: id, reason }, { conversationId: id, success: declinedText }).catch(
    () => {},
  );
});

/** What a decline means for me: the chat is not offered to me again for the company's
 * cool-down (I can still take it from the queue). TODO(i18n): plain until a JS catalogue. */
function declinedText(result) {
  const seconds = result && result.cooldown_seconds;
  return seconds ? `Declined — not offered to you again for ${seconds} s` : "Declined";
}

onDialogSubmit("escalate-dialog", (id) => {
  const reason = byId("escalate-reason").value.trim();
  act("escalate", { conversation_id: id, reason }, { conversationId: id, success: "Escalated" }).catch(
    () => {},
  );
});

onDialogSubmit("transfer-dialog", (id) => {
  const target = byId("transfer-target").value;
  const reason = byId("transfer-reason").value.trim();
  const fields =
    target === "queue"
      ? { conversation_id: id, to_queue: true, reason }
      : { conversation_id: id, to_agent_id: Number(target), reason };
  act("transfer", fields, { conversationId: id, success: "Transferred" }).catch(() => {});
});

byId("conversation-actions").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  const id = state.selected;
  if (!button || id === null) return;
  const action = button.dataset.action;
  if (action === "accept" || action === "take") accept(id);
  else if (action === "decline") openDecline(id);
  else if (action === "resolve") resolve(id);
  else if (action === "transfer") openTransfer(id);
  else if (action === "escalate") openEscalate(id);
});

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
      stickToBottom = true;
    })
    .catch((error) => {
      toast({ title: "Reply not sent", body: error.message || error.code, tone: "danger" });
    })
    .finally(() => {
      state.busy.delete(key);
      render();
    });
}

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

byId("status-select").addEventListener("change", (event) => {
  const wanted = event.target.value;
  state.statusBusy = true;
  render();
  live
    .request("set_status", { status: wanted })
    .then((ack) => {
      state.agent = { ...state.agent, status: ack.status };
    })
    .catch((error) => {
      toast({ title: "Status not changed", body: error.message || error.code, tone: "danger" });
    })
    .finally(() => {
      state.statusBusy = false;
      render();
    });
});

byId("reconnect").addEventListener("click", () => live.wake());

live.start();
render();
