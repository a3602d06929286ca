// /conversations/<id>/: a read-only transcript that follows the chat live (the supervisors'
// group carries every message of the company), and the supervisor's actions — whisper to the
// handling agent, take over, reassign — through the REST actions the console's rules share.

import { gettext } from "../i18n.js";
import { byId, fill, h } from "../console/ui.js";
import { post, startLive } from "./shared.js";

let config;
const strings = () => config.strings;

function status(text, tone = "ok") {
  const node = byId("action-status");
  node.textContent = text;
  node.dataset.tone = tone;
}

const TIME_FORMAT = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false };

/** One clock format for the server-rendered and the live items, in the reader's time zone. */
function clockOf(at) {
  return new Date(at).toLocaleTimeString(undefined, TIME_FORMAT);
}

function agentName(userId) {
  const option = userId ? document.querySelector(`#reassign-to option[value="${userId}"]`) : null;
  return option ? option.textContent.replace(/ \([^)]*\)$/, "") : strings().agent;
}

function itemNode({ kind, id, direction, who, at, text }) {
  return h(
    "li",
    { class: `item item-${direction}`, dataset: { kind, id: String(id) } },
    h("span", { class: "who" }, who),
    h("time", { datetime: at }, clockOf(at)),
    h("p", { class: "text" }, text),
  );
}

function appendItem(item) {
  const list = byId("transcript");
  const existing = list.querySelector(`li[data-kind="${item.kind}"][data-id="${item.id}"]`);
  const node = itemNode(item);
  if (existing) existing.replaceWith(node);
  else list.append(node);
  node.scrollIntoView({ block: "nearest" });
}

function applyState(data) {
  if (data.status) {
    fill(byId("fact-status"), [h("span", { class: `tag status-${data.status}` }, data.status)]);
  }
  if (data.priority) {
    fill(byId("fact-priority"), [h("span", { class: `tag priority-${data.priority}` }, data.priority)]);
  }
  if ("assignment_id" in data) {
    config.assignment_id = data.assignment_id;
    config.holder_id = data.assigned_to;
    const option = data.assigned_to
      ? document.querySelector(`#reassign-to option[value="${data.assigned_to}"]`)
      : null;
    byId("fact-agent").textContent = data.assigned_to
      ? `${option ? option.textContent : `#${data.assigned_to}`} (${data.assignment_status || ""})`
      : "–";
  }
}

// Who is typing (`chat.typing`, live only): by → until when (ms).
const typing = new Map();

function drawTyping() {
  const now = Date.now();
  const words = [];
  if ((typing.get("customer") ?? 0) > now) words.push(gettext("The customer is typing…"));
  if ((typing.get("agent") ?? 0) > now) words.push(gettext("The agent is typing…"));
  const node = byId("typing-now");
  node.textContent = words.join(" ");
  node.hidden = !words.length;
}

function showTyping(data) {
  const seconds = data.ttl_seconds || 6;
  typing.set(data.by, data.typing ? Date.now() + seconds * 1000 : 0);
  drawTyping();
  setTimeout(drawTyping, seconds * 1000 + 50);
}

function onEvent(frame) {
  const data = frame.data || {};
  if (data.conversation_id !== config.conversation_id) return;
  switch (frame.type) {
    case "chat.message":
      appendItem({
        kind: "message",
        id: data.message_id,
        direction: data.direction,
        who:
          data.direction === "inbound"
            ? strings().customer
            : data.automatic
              ? gettext("Switchboard")
              : agentName(data.sender_id),
        at: data.sent_at,
        text: data.text,
      });
      if (data.csat_rating) byId("fact-csat").textContent = `${data.csat_rating} / 5`;
      if (data.direction === "inbound") showTyping({ by: "customer", typing: false });
      break;
    case "chat.whisper":
      appendItem({
        kind: "whisper",
        id: data.whisper_id,
        direction: "whisper",
        who: `${strings().whisper}: ${data.author_name}`,
        at: data.created_at,
        text: data.text,
      });
      break;
    case "chat.typing":
      showTyping(data);
      break;
    default:
      applyState(data);
  }
}

async function run(action, done) {
  try {
    const answer = await action();
    status(done);
    return answer;
  } catch (error) {
    status(`${strings().failed} ${error.message}`, "danger");
    return null;
  }
}

function wire() {
  byId("whisper-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const field = byId("whisper-text");
    const answer = await run(
      () => post(config, config.api.whisper, { text: field.value }),
      strings().sent,
    );
    if (answer) {
      field.value = "";
      appendItem({
        kind: "whisper",
        id: answer.id,
        direction: "whisper",
        who: `${strings().whisper}: ${config.user.name}`,
        at: answer.created_at,
        text: answer.text,
      });
    }
  });
  const takeOver = document.getElementById("take-over");
  if (takeOver) {
    takeOver.addEventListener("click", async () => {
      const answer = await run(() => post(config, config.api.take_over, {}), strings().taken);
      if (answer) applyState({ assignment_id: answer.id, assigned_to: answer.agent, assignment_status: answer.status });
    });
  }
  byId("reassign-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!config.assignment_id) {
      status(`${strings().failed} ${strings().unassigned}`, "danger");
      return;
    }
    const to = byId("reassign-to").value;
    const body = { reason: byId("reassign-reason").value };
    if (to === "queue") body.to_queue = true;
    else body.to_agent_id = Number(to);
    const url = config.api.transfer.replace("{id}", String(config.assignment_id));
    await run(() => post(config, url, body), strings().reassigned);
  });
}

config = startLive("conversation-config", onEvent).config;
for (const time of document.querySelectorAll("#transcript time[datetime]")) {
  time.textContent = clockOf(time.dateTime);
}
wire();
