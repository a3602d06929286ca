// /conversations/: the server renders a page of the company's chats; this keeps its rows
// current from the supervisors' live events (no polling). A row on the page changes in place
// (status, priority, agent, activity); activity on a chat that is not on the page shows a
// "new activity" link to the newest page, where the list's order is the server's.

import { byId, h, fill } from "../console/ui.js";
import { startLive } from "./shared.js";

const CHAT_EVENTS = new Set([
  "queue.updated",
  "chat.offered",
  "chat.assigned",
  "chat.resolved",
  "chat.transferred",
  "chat.message",
  "alert.urgent",
]);

let config;
const agentNames = new Map();

function row(conversationId) {
  return document.querySelector(`#conversation-rows tr[data-conversation-id="${conversationId}"]`);
}

function tag(className, text) {
  return h("span", { class: `tag ${className}` }, text);
}

function showFresh() {
  const banner = byId("fresh");
  banner.querySelector("a").href = `${location.pathname}${location.search}`.replace(/([?&])after=[^&]*&?/, "$1");
  banner.hidden = false;
}

function applyChat(type, data) {
  const tr = row(data.conversation_id);
  if (!tr) {
    if (config.first_page) showFresh();
    return;
  }
  if (data.status) {
    tr.dataset.status = data.status;
    fill(tr.querySelector('[data-cell="status"]'), [tag(`status-${data.status}`, data.status)]);
  }
  if (data.priority) {
    fill(tr.querySelector('[data-cell="priority"]'), [tag(`priority-${data.priority}`, data.priority)]);
  }
  if ("assigned_to" in data) {
    const name = data.assigned_to ? agentNames.get(data.assigned_to) || `#${data.assigned_to}` : "–";
    tr.querySelector('[data-cell="agent"]').textContent = name;
  }
  const at = data.sent_at || data.last_message_at;
  if (type === "chat.message" && at) {
    const time = tr.querySelector('[data-cell="activity"] time');
    time.dateTime = at;
    time.textContent = new Date(at).toLocaleString();
    tr.classList.add("updated");
  }
}

function onEvent(frame) {
  if (!CHAT_EVENTS.has(frame.type) || !frame.data) return;
  // A router batch's queue changes come as one `queue.updated` listing them (PROTOCOL.md).
  const changes = frame.data.changes || [frame.data];
  for (const data of changes) {
    if (data.conversation_id) applyChat(frame.type, data);
  }
}

const started = startLive("conversations-config", onEvent);
config = started.config;
for (const option of document.querySelectorAll('select[name="agent"] option[value]')) {
  if (option.value) agentNames.set(Number(option.value), option.textContent);
}
