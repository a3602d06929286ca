// Labels: the chips on the open chat, the dialog that sets them, and the label filter over my
// chats and the queue. The company's labels are read once (and again when one is created);
// a chat's labels come with it in every event (`labels`, names).

import { gettext } from "../i18n.js";
import { onRender, render } from "./bus.js";
import { getAll, sendJson } from "./rest.js";
import { config, state } from "./state.js";
import { byId, fill, h, toast } from "./ui.js";

state.labels = new Map(); // name → {id, name, color}
state.labelFilter = "";

/** Whether a chat passes the label filter of the lists. */
export function passesLabelFilter(chat) {
  return !state.labelFilter || (chat.labels || []).includes(state.labelFilter);
}

/** A label as a coloured chip. */
export function labelChip(name) {
  const label = state.labels.get(name);
  return h(
    "li",
    { class: "label-chip", dataset: { label: name } },
    h("span", { class: "label-dot", style: { background: label ? label.color : "#6b7280" } }),
    name,
  );
}

async function loadLabels() {
  try {
    const rows = await getAll(`${config.api.labels}?page_size=500`);
    state.labels = new Map(rows.map((row) => [row.name, row]));
  } catch (error) {
    toast({ title: gettext("Labels unavailable"), body: error.message, tone: "danger" });
  }
  drawFilter();
  render();
}

function drawFilter() {
  const select = byId("label-filter");
  const current = state.labelFilter;
  fill(select, [
    h("option", { value: "" }, gettext("All chats")),
    ...[...state.labels.keys()].map((name) => h("option", { value: name }, name)),
  ]);
  select.value = state.labels.has(current) ? current : "";
  state.labelFilter = select.value;
}

function renderChips() {
  const chat = state.selected === null ? null : state.known.get(state.selected);
  if (!chat) return;
  fill(byId("label-chips"), (chat.labels || []).map(labelChip));
}

function openEditor() {
  const chat = state.known.get(state.selected);
  if (!chat) return;
  const have = new Set(chat.labels || []);
  byId("labels-error").hidden = true;
  byId("labels-none").hidden = state.labels.size > 0;
  byId("labels-new").hidden = !config.can_manage_labels;
  drawChoices(have);
  byId("labels-dialog").showModal();
}

function drawChoices(checked) {
  const box = byId("labels-choices");
  const legend = box.querySelector("legend");
  fill(box, [
    legend,
    ...[...state.labels.values()].map((label) =>
      h(
        "label",
        { class: "label-choice" },
        h("input", {
          type: "checkbox",
          value: label.name,
          checked: checked.has(label.name) ? true : null,
        }),
        h("span", { class: "label-dot", style: { background: label.color } }),
        label.name,
      ),
    ),
  ]);
}

function chosen() {
  return [...byId("labels-choices").querySelectorAll("input:checked")].map((box) => box.value);
}

async function createLabel() {
  const name = byId("label-new-name").value.trim();
  const error = byId("labels-error");
  error.hidden = true;
  if (!name) return;
  try {
    const made = await sendJson(config.api.labels, "POST", {
      name,
      color: byId("label-new-color").value,
    });
    const keep = new Set([...chosen(), made.name]);
    state.labels.set(made.name, made);
    byId("label-new-name").value = "";
    byId("labels-none").hidden = true;
    drawChoices(keep);
    drawFilter();
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
  }
}

async function saveLabels(id, names) {
  try {
    const row = await sendJson(`${config.api.conversations}${id}/labels/`, "POST", {
      labels: names,
    });
    const chat = state.known.get(id);
    if (chat) state.known.set(id, { ...chat, labels: row.labels });
    for (const list of [state.chats, state.queue]) {
      if (list.has(id)) list.set(id, { ...list.get(id), labels: row.labels });
    }
    render();
  } catch (error) {
    toast({ title: gettext("Labels not saved"), body: error.message, tone: "danger" });
  }
}

export function initLabels() {
  byId("labels-edit").addEventListener("click", openEditor);
  byId("label-create").addEventListener("click", createLabel);
  byId("labels-dialog").addEventListener("close", () => {
    if (byId("labels-dialog").returnValue === "ok" && state.selected !== null) {
      saveLabels(state.selected, chosen());
    }
  });
  byId("label-filter").addEventListener("change", (event) => {
    state.labelFilter = event.target.value;
    render();
  });
  onRender(renderChips);
  loadLabels();
}
