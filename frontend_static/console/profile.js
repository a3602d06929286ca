// The customer panel: who the open chat's customer is (editable), their previous
// conversations — each opens in the conversation view with one click — and staff notes about
// them. Read over REST when another customer's chat is opened; saved with PATCH.

import { gettext, interpolate } from "../i18n.js";
import { on } from "./bus.js";
import { openAnyChat } from "./mentions.js";
import { getJson, sendJson } from "./rest.js";
import { config, state } from "./state.js";
import { byId, capitalise, fill, h, timeOfDay, toast } from "./ui.js";

const profile = { clientId: null, client: null, seq: 0 };

function clientOf(id) {
  const chat = id === null ? null : state.known.get(id);
  return chat && chat.client ? chat.client.id : null;
}

function attributesText(attributes) {
  return Object.entries(attributes || {})
    .map(([key, value]) => `${key}: ${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join("\n");
}

/** "key: value" lines → an object; numbers, true, false and null keep their JSON type. */
function parseAttributes(text) {
  const attributes = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf(":");
    if (at <= 0) throw new Error(interpolate(gettext('"%(line)s" is not "key: value".'), { line: line.trim() }));
    const key = line.slice(0, at).trim();
    const raw = line.slice(at + 1).trim();
    let value = raw;
    if (/^(-?\d+(\.\d+)?|true|false|null)$/.test(raw)) value = JSON.parse(raw);
    attributes[key] = value;
  }
  return attributes;
}

function drawClient(client) {
  byId("profile-name").value = client.name || "";
  byId("profile-email").value = client.email || "";
  byId("profile-phone").value = client.phone || "";
  byId("profile-vip").checked = Boolean(client.vip);
  byId("profile-attributes").value = attributesText(client.attributes);
  byId("profile-identities").textContent = (client.identities || [])
    .map((identity) => `${capitalise(identity.provider)}: ${identity.id}`)
    .join(" · ");
  byId("profile-error").hidden = true;
}

function drawHistory(rows) {
  fill(
    byId("profile-history"),
    rows.length
      ? rows.map((row) =>
          h(
            "li",
            { dataset: { conversationId: row.id } },
            h(
              "button",
              {
                type: "button",
                class: "link-button history-open",
                "aria-current": row.id === state.selected ? "true" : null,
                onclick: () => openAnyChat(row.id),
              },
              `#${row.id} · ${new Date(row.created_at).toLocaleDateString()} · ${row.status}`,
            ),
            row.id === state.selected ? h("span", { class: "muted" }, " (open)") : null,
            ...(row.labels || []).map((name) => h("span", { class: "tag tag-label" }, name)),
          ),
        )
      : [h("li", { class: "empty" }, gettext("No other conversations."))],
  );
}

function drawNotes(rows) {
  fill(
    byId("profile-notes"),
    rows.length
      ? rows.map((row) =>
          h(
            "li",
            { class: "client-note" },
            h("p", {}, row.text),
            h(
              "span",
              { class: "muted small-print" },
              `${row.author_name || gettext("Someone")} · ${new Date(row.created_at).toLocaleDateString()} ${timeOfDay(row.created_at)}`,
            ),
          ),
        )
      : [h("li", { class: "empty" }, gettext("No notes yet."))],
  );
}

/** Read the customer; `historyOnly`: another chat of the same customer was opened — the form
 * keeps what is being typed in it. */
async function load(clientId, { historyOnly = false } = {}) {
  const seq = ++profile.seq;
  const base = `${config.api.clients}${clientId}/`;
  try {
    const [client, history, notes] = await Promise.all([
      historyOnly ? null : getJson(base),
      getJson(`${base}conversations/?page_size=20`),
      getJson(`${base}notes/?page_size=50`),
    ]);
    if (seq !== profile.seq) return;
    if (client) {
      profile.client = client;
      drawClient(client);
    }
    drawHistory(history.results);
    drawNotes(notes.results);
  } catch (error) {
    if (seq === profile.seq) {
      toast({ title: gettext("Customer profile unavailable"), body: error.message, tone: "danger" });
    }
  }
}

function show(conversationId) {
  const clientId = clientOf(conversationId);
  byId("profile-empty").hidden = clientId !== null;
  byId("profile-body").hidden = clientId === null;
  if (clientId === null || clientId === profile.clientId) {
    if (clientId !== null) load(clientId, { historyOnly: true }); // refresh "(open)"
    return;
  }
  profile.clientId = clientId;
  load(clientId);
}

async function save(event) {
  event.preventDefault();
  const error = byId("profile-error");
  error.hidden = true;
  try {
    const body = {
      name: byId("profile-name").value.trim(),
      email: byId("profile-email").value.trim(),
      phone: byId("profile-phone").value.trim(),
      vip: byId("profile-vip").checked,
      attributes: parseAttributes(byId("profile-attributes").value),
    };
    const client = await sendJson(`${config.api.clients}${profile.clientId}/`, "PATCH", body);
    profile.client = client;
    drawClient(client);
    toast({ title: gettext("Profile saved") });
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
  }
}

async function addNote(event) {
  event.preventDefault();
  const field = byId("client-note-text");
  const text = field.value.trim();
  if (!text || profile.clientId === null) return;
  try {
    await sendJson(`${config.api.clients}${profile.clientId}/notes/`, "POST", { text });
    field.value = "";
    load(profile.clientId, { historyOnly: true });
  } catch (error) {
    toast({ title: gettext("Note not saved"), body: error.message, tone: "danger" });
  }
}

export function initProfile() {
  on("chat:selected", (id) => show(id));
  byId("profile-form").addEventListener("submit", save);
  byId("client-note-form").addEventListener("submit", addNote);
}
