// The supervisors' wallboard (/wallboard/): big numbers from `wallboard.stats`, the agent grid
// (`agent.status` and the stats' loads), the queue by priority (`queue.updated` and the chat
// events) and the SLA at-risk list — all live over /ws/wallboard/ (realtime/PROTOCOL.md).
// Times that run on their own (longest wait, due clocks) tick here between two stats.

import { describeState, exposeDebug, LiveSocket } from "../console/live.js";
import {
  formatNumber,
  formatPercent,
  formatTime,
  gettext,
  interpolate,
  ngettext,
} from "../i18n.js";
import {
  byId,
  byRoutingOrder,
  clock,
  clockText,
  durationText,
  escalationStepText,
  fill,
  h,
  parseTime,
  PRIORITIES,
  priorityLabel,
  readConfig,
  statusLabel,
  showConnection,
  slaClock,
  timeOfDay,
  toast,
} from "../console/ui.js";

const config = readConfig("wallboard-config");
const STATUS_ORDER = { available: 0, away: 1, offline: 2 };

const state = {
  stats: null,
  agents: new Map(), // agent id → agent record (+ role)
  queue: new Map(), // conversation id → waiting chat
  known: new Map(), // conversation id → latest conversation record seen
  atRisk: [], // [{conversation_id, priority, status, kind, state, due_at}]
};

// --- applying what the server says ----------------------------------------------------------

function applyConversation(chat) {
  if (!chat || !chat.conversation_id) return;
  // Open chats only: a wallboard runs for days and needs names for the open ones alone.
  if (chat.status === "resolved" || chat.status === "abandoned") {
    state.known.delete(chat.conversation_id);
  } else {
    state.known.set(chat.conversation_id, chat);
  }
  if (chat.status === "waiting") state.queue.set(chat.conversation_id, chat);
  else state.queue.delete(chat.conversation_id);
}

function applyAgent(agent) {
  const had = state.agents.get(agent.agent_id) || {};
  state.agents.set(agent.agent_id, { ...had, ...agent });
}

function applyStats(stats) {
  state.stats = stats;
  for (const [id, [status, active, capacity]] of Object.entries(stats.agents.loads || {})) {
    const agent = state.agents.get(Number(id));
    if (agent) {
      state.agents.set(agent.agent_id, {
        ...agent,
        status,
        active_chats: active,
        max_chats: capacity,
      });
    }
  }
  state.atRisk = stats.sla.pressing || [];
}

function onSnapshot(data) {
  clock.sync(data.server_time);
  state.agents.clear();
  state.queue.clear();
  for (const agent of data.agents) applyAgent(agent);
  for (const chats of Object.values(data.queue.by_priority)) {
    for (const chat of chats) applyConversation(chat);
  }
  for (const chat of data.at_risk) state.known.set(chat.conversation_id, chat);
  applyStats(data.stats);
  state.atRisk = data.at_risk.map((chat) => ({
    conversation_id: chat.conversation_id,
    priority: chat.priority,
    status: chat.status,
    kind: chat.sla_kind,
    state: chat.sla_state,
    due_at: chat.sla_due_at,
  }));
  render();
}

function onEvent(frame) {
  const { type, data } = frame;
  switch (type) {
    case "wallboard.stats":
      applyStats(data);
      break;
    case "agent.status":
      applyAgent(data);
      break;
    case "queue.updated":
      // A router batch's queue changes come as one frame listing them, in order (PROTOCOL.md).
      for (const chat of data.changes || [data]) applyConversation(chat);
      break;
    case "chat.offered":
    case "chat.assigned":
    case "chat.resolved":
    case "chat.transferred":
      applyConversation(data);
      break;
    case "alert.urgent":
      applyConversation(data);
      toast({
        title: interpolate(gettext("Urgent: %(name)s"), { name: nameOf(data.conversation_id) }),
        body: data.reason || data.text || "",
        tone: "danger",
        urgent: true,
      });
      break;
    case "sla.breached":
      if (data.stage === "escalation") {
        // A step of the escalation ladder: what it did, not the breach all over again.
        toast({ ...escalationStepText(data, nameOf(data.conversation_id)), tone: "warning" });
        break;
      }
      toast({
        title: interpolate(gettext("SLA breached: %(name)s"), {
          name: nameOf(data.conversation_id),
        }),
        body:
          data.kind === "first_response"
            ? gettext("No first response in time.")
            : gettext("Not resolved in time."),
        tone: "danger",
        urgent: true,
      });
      break;
    default:
      return;
  }
  render();
}

function nameOf(conversationId) {
  const chat = state.known.get(conversationId);
  return (
    (chat && chat.client && chat.client.name) ||
    interpolate(gettext("Chat #%(id)s"), { id: conversationId })
  );
}

/** A chat's name as a link into the supervisors' live view of it (/conversations/<id>/). */
function chatLink(conversationId, className = "") {
  // A superadmin names the company, as on the wallboard itself.
  const query = config.user.role === "superadmin" ? `?company=${config.company.id}` : "";
  const href = `/conversations/${conversationId}/${query}`;
  return h("a", { href, class: className }, nameOf(conversationId));
}

function agentName(agentId) {
  const agent = state.agents.get(agentId);
  return agent ? agent.name : interpolate(gettext("Agent #%(id)s"), { id: agentId });
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
    byId("wallboard").dataset.live = socketState === "live" ? "true" : "false";
  },
});
exposeDebug(live, { state });

// --- rendering ------------------------------------------------------------------------------

let renderQueued = false;

function render() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderKpis();
    renderQueueTiles();
    renderAgents();
    renderQueue();
    renderAtRisk();
    tick();
  });
}

function setKpi(name, value, sub = "", tone = "") {
  const tile = document.querySelector(`[data-kpi="${name}"]`);
  if (!tile) return;
  const figure = tile.querySelector(".kpi-value");
  figure.textContent = String(value);
  // The figure's length sizes it to fit its tile on one line (wallboard.css, .kpi-value).
  figure.style.setProperty("--chars", String(Math.max(figure.textContent.length, 3)));
  tile.querySelector(".kpi-sub").textContent = sub;
  tile.dataset.tone = tone;
}

function percent(ratio) {
  return formatPercent(ratio, 1);
}

/** "12" → "12" (en) and "1.234" (de): counts in the user's language. */
function count(value) {
  return formatNumber(value);
}

function renderKpis() {
  const stats = state.stats;
  if (!stats) return;
  const waiting = stats.waiting;
  const parts = PRIORITIES.filter((p) => waiting.by_priority[p]).map((p) =>
    interpolate(gettext("%(count)s %(priority)s"), {
      count: count(waiting.by_priority[p]),
      priority: priorityLabel(p),
    }),
  );
  setKpi(
    "waiting",
    count(waiting.total),
    parts.join(" · ") || gettext("nobody waiting"),
    waiting.by_priority.urgent ? "danger" : waiting.total ? "warning" : "",
  );
  for (const status of ["available", "away", "offline"]) {
    const bucket = stats.agents.by_status[status] || { count: 0, active_chats: 0, capacity: 0 };
    const sub = bucket.count
      ? interpolate(gettext("load %(active)s / %(capacity)s chats"), {
          active: count(bucket.active_chats),
          capacity: count(bucket.capacity),
        })
      : "";
    setKpi(
      `agents-${status}`,
      count(bucket.count),
      sub,
      status === "available" && !bucket.count ? "danger" : "",
    );
  }
  setKpi("pending-offers", count(stats.pending_offers), gettext("offered, not yet accepted"));
  setKpi(
    "sla-at-risk",
    count(stats.sla.at_risk),
    gettext("due soon"),
    stats.sla.at_risk ? "warning" : "ok",
  );
  setKpi(
    "sla-breached",
    count(stats.sla.breached),
    gettext("past due now"),
    stats.sla.breached ? "danger" : "ok",
  );
  const today = stats.today;
  setKpi(
    "chats-today",
    count(today.chats),
    interpolate(gettext("%(resolved)s resolved · %(answered)s answered"), {
      resolved: count(today.resolved),
      answered: count(today.answered),
    }),
  );
  setKpi(
    "median-first-response",
    durationText(today.median_first_response_seconds),
    today.answered
      ? interpolate(
          ngettext("over %(count)s answered", "over %(count)s answered", today.answered),
          { count: count(today.answered) },
        )
      : gettext("no answers yet"),
  );
  const compliance = today.sla_compliance;
  setKpi(
    "sla-compliance",
    compliance === null ? "—" : percent(compliance),
    interpolate(gettext("%(met)s met · %(missed)s missed"), {
      met: count(today.first_response_met),
      missed: count(today.first_response_missed),
    }),
    compliance === null ? "" : compliance >= 0.9 ? "ok" : compliance >= 0.75 ? "warning" : "danger",
  );
  const csat = today.csat;
  if (csat) {
    const labels = document.querySelector('[data-kpi="csat"]').dataset;
    setKpi(
      "csat",
      csat.average === null ? "—" : `${csat.average.toLocaleString()} / 5`,
      csat.responses
        ? `${csat.responses} ${labels.answers} · ${percent(csat.satisfied_rate)} ${labels.satisfied}`
        : labels.none,
      csat.average === null ? "" : csat.average >= 4 ? "ok" : csat.average >= 3 ? "warning" : "danger",
    );
  }
  byId("stats-time").textContent = interpolate(gettext("updated %(time)s"), {
    time: timeOfDay(stats.computed_at),
  });
}

/** Worse of the live service level and the forecast against the queue's target. */
function queueTone(queue) {
  const level = queue.service_level ?? queue.expected_service_level;
  if (level === null || level === undefined) return "";
  if (level >= queue.service_level_target) return "ok";
  return level >= queue.service_level_target - 0.1 ? "warning" : "danger";
}

function figure(label, value) {
  return h("div", {}, [h("dt", {}, [label]), h("dd", {}, [value])]);
}

function renderQueueTiles() {
  const queues = (state.stats && state.stats.queues) || [];
  byId("queue-tiles-empty").hidden = queues.length > 0;
  fill(
    byId("queue-tiles"),
    queues.map((queue) => {
      const needed =
        queue.required_agents === null
          ? gettext("no forecast yet")
          : interpolate(gettext("%(needed)s agents needed · %(available)s available"), {
              needed: count(queue.required_agents),
              available: count(queue.available_agents),
            });
      const expected =
        queue.expected_service_level === null
          ? ""
          : " · " +
            interpolate(gettext("expected %(level)s"), {
              level: percent(queue.expected_service_level),
            });
      return h(
        "li",
        { class: "queue-tile", dataset: { queueId: queue.id, tone: queueTone(queue) } },
        [
          h("h3", {}, [queue.name]),
          h("dl", { class: "queue-figures" }, [
            figure(gettext("Waiting"), count(queue.waiting)),
            figure(gettext("Longest wait"), durationText(queue.longest_wait_seconds)),
            figure(
              interpolate(gettext("SL %(seconds)s s"), { seconds: queue.service_level_seconds }),
              queue.service_level === null ? "—" : percent(queue.service_level),
            ),
            figure(gettext("ASA"), durationText(queue.asa_seconds)),
            figure(gettext("Offered"), count(queue.offered)),
            figure(
              gettext("Target"),
              percent(queue.service_level_target),
            ),
          ]),
          h("p", { class: "queue-forecast" }, [needed + expected]),
        ],
      );
    }),
  );
}

function renderAgents() {
  const agents = [...state.agents.values()].sort(
    (a, b) =>
      (STATUS_ORDER[a.status] ?? 3) - (STATUS_ORDER[b.status] ?? 3) ||
      a.name.localeCompare(b.name),
  );
  fill(
    byId("agents"),
    agents.map((agent) => {
      const capacity = Math.max(agent.max_chats, 1);
      const load = Math.min(100, Math.round((agent.active_chats / capacity) * 100));
      return h(
        "li",
        { class: `agent agent-${agent.status}`, dataset: { agentId: agent.agent_id } },
        h(
          "span",
          { class: "agent-head" },
          h("span", { class: "agent-name" }, agent.name),
          agent.role === "supervisor" ? h("span", { class: "tag" }, gettext("supervisor")) : null,
        ),
        h("span", { class: `agent-status status-${agent.status}` }, statusLabel(agent.status)),
        h(
          "span",
          {
            class: "load",
            role: "meter",
            "aria-valuemin": "0",
            "aria-valuemax": String(agent.max_chats),
            "aria-valuenow": String(agent.active_chats),
            "aria-label": interpolate(gettext("%(name)s: %(active)s of %(capacity)s chats"), {
              name: agent.name,
              active: agent.active_chats,
              capacity: agent.max_chats,
            }),
          },
          h("span", { class: "load-bar", style: { width: `${load}%` } }),
        ),
        h(
          "span",
          { class: "agent-load" },
          interpolate(gettext("%(active)s / %(capacity)s chats"), {
            active: agent.active_chats,
            capacity: agent.max_chats,
          }),
          agent.status_changed_at
            ? h("span", {
                class: "muted",
                dataset: { since: agent.status_changed_at, prefix: gettext(" · for ") },
              })
            : null,
        ),
      );
    }),
  );
  byId("agents-empty").hidden = agents.length > 0;
}

function renderQueue() {
  const stats = state.stats;
  for (const priority of PRIORITIES) {
    const chats = [...state.queue.values()]
      .filter((chat) => chat.priority === priority)
      .sort(byRoutingOrder);
    const total = stats ? stats.waiting.by_priority[priority] : chats.length;
    const items = chats.map((chat) =>
      h(
        "li",
        { dataset: { conversationId: chat.conversation_id } },
        chatLink(chat.conversation_id, "queue-name"),
        chat.client && chat.client.vip ? h("span", { class: "tag tag-vip" }, gettext("VIP")) : null,
        h("span", { class: "queue-wait", dataset: { since: chat.queued_at || chat.created_at } }),
      ),
    );
    if (total > chats.length) {
      items.push(
        h(
          "li",
          { class: "muted" },
          interpolate(gettext("+ %(count)s more"), { count: count(total - chats.length) }),
        ),
      );
    }
    fill(byId(`queue-${priority}`), items);
    byId(`queue-${priority}-count`).textContent = String(Math.max(total, chats.length));
  }
}

const KIND_TEXT = { first_response: gettext("First response"), resolution: gettext("Resolution") };

function renderAtRisk() {
  const rows = state.atRisk.map((item) => {
    const chat = state.known.get(item.conversation_id);
    const holder = chat && chat.assigned_to ? agentName(chat.assigned_to) : gettext("queue");
    return h(
      "tr",
      { dataset: { conversationId: item.conversation_id, state: item.state } },
      h("td", {}, chatLink(item.conversation_id)),
      h(
        "td",
        {},
        h("span", { class: `tag priority priority-${item.priority}` }, priorityLabel(item.priority)),
      ),
      h("td", {}, KIND_TEXT[item.kind] || item.kind),
      h("td", {}, holder),
      h("td", {}, h("span", { class: "clock", dataset: { due: item.due_at || "" } })),
    );
  });
  fill(byId("at-risk-rows"), rows);
  byId("at-risk-empty").hidden = rows.length > 0;
}

function tick() {
  const now = clock.now();
  byId("wall-clock").textContent = formatTime(now, { seconds: true });
  const stats = state.stats;
  if (stats) {
    const oldest = stats.waiting.total ? parseTime(stats.waiting.oldest_since) : null;
    setKpi(
      "longest-wait",
      oldest === null ? "0:00" : clockText((now - oldest) / 1000),
      oldest === null
        ? gettext("nobody waiting")
        : interpolate(gettext("waiting since %(time)s"), {
            time: timeOfDay(stats.waiting.oldest_since),
          }),
      oldest !== null && now - oldest > 5 * 60_000 ? "danger" : oldest !== null ? "warning" : "",
    );
  }
  for (const node of document.querySelectorAll("#wallboard [data-since]")) {
    const since = parseTime(node.dataset.since);
    if (since === null) continue;
    const seconds = (now - since) / 1000;
    node.textContent = `${node.dataset.prefix || ""}${
      node.dataset.prefix ? durationText(seconds) : clockText(seconds)
    }`;
  }
  for (const node of document.querySelectorAll("#wallboard [data-due]")) {
    const shown = slaClock(node.dataset.due, Number.POSITIVE_INFINITY);
    if (!shown) {
      node.textContent = "—";
      continue;
    }
    node.dataset.state = shown.state;
    node.textContent =
      shown.left > 0 ? interpolate(gettext("in %(time)s"), { time: shown.text }) : shown.text;
  }
  if (lastConnection.state === "waiting") {
    showConnection(connectionNode, describeState(lastConnection.state, lastConnection.detail));
  }
}

setInterval(tick, 1000);
live.start();
