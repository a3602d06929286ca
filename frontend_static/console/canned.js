// Canned responses: the `/` picker in the reply box and the small management panel.
//
// Typing `/` at the start of the box or after a space opens a listbox of the responses whose
// shortcode, title or text match what follows (the API's `?q=`); ArrowUp/ArrowDown move, Enter
// or Tab insert, Escape closes. The inserted text is rendered by the server for the open chat
// (`{{client.name}}`, `{{agent.name}}`, `{{company.name}}`), a plain substitution.

import { gettext, interpolate } from "../i18n.js";
import { render } from "./bus.js";
import { getAll, getJson, sendJson } from "./rest.js";
import { config, me, state } from "./state.js";
import { byId, fill, h, toast } from "./ui.js";

const TRIGGER = /(^|\s)\/([\w-]{0,32})$/;
const picker = { open: false, query: null, items: [], active: 0, timer: null, seq: 0 };

function box() {
  return byId("reply-text");
}

/** The `/word` right before the caret, or null. */
function pendingToken() {
  const text = box().value.slice(0, box().selectionStart ?? box().value.length);
  const match = TRIGGER.exec(text);
  return match ? { query: match[2], start: text.length - match[2].length - 1 } : null;
}

function closePicker() {
  picker.open = false;
  picker.items = [];
  const list = byId("canned-picker");
  list.hidden = true;
  list.replaceChildren();
  box().removeAttribute("aria-activedescendant");
}

function drawPicker() {
  const list = byId("canned-picker");
  if (!picker.items.length) {
    fill(list, [h("li", { class: "canned-empty", role: "presentation" }, gettext("No canned response matches."))]);
  } else {
    fill(
      list,
      picker.items.map((item, index) =>
        h(
          "li",
          {
            id: `canned-option-${item.id}`,
            role: "option",
            class: "canned-option",
            "aria-selected": index === picker.active ? "true" : "false",
            dataset: { shortcode: item.shortcode },
            onmousedown: (event) => {
              event.preventDefault(); // keep the focus in the box
              choose(index);
            },
          },
          h("span", { class: "canned-code" }, `/${item.shortcode}`),
          h("span", { class: "canned-name" }, item.title),
          h("span", { class: "canned-preview muted" }, item.text),
        ),
      ),
    );
  }
  list.hidden = false;
  picker.open = true;
  const active = picker.items[picker.active];
  if (active) {
    box().setAttribute("aria-activedescendant", `canned-option-${active.id}`);
    byId(`canned-option-${active.id}`)?.scrollIntoView({ block: "nearest" });
  } else {
    box().removeAttribute("aria-activedescendant");
  }
}

async function search(query) {
  const seq = ++picker.seq;
  const params = new URLSearchParams({ q: query, page_size: "8" });
  try {
    const page = await getJson(`${config.api.canned}?${params}`);
    if (seq !== picker.seq || !pendingToken()) return; // typed on meanwhile
    picker.items = page.results;
    picker.active = 0;
    drawPicker();
  } catch (error) {
    closePicker();
    toast({ title: gettext("Canned responses unavailable"), body: error.message, tone: "danger" });
  }
}

function onInput() {
  const token = pendingToken();
  if (!token) {
    closePicker();
    return;
  }
  if (token.query === picker.query && picker.open) return;
  picker.query = token.query;
  clearTimeout(picker.timer);
  picker.timer = setTimeout(() => search(token.query), 120);
}

async function choose(index) {
  const item = picker.items[index];
  const token = pendingToken();
  closePicker();
  if (!item || !token) return;
  let text = item.text;
  try {
    const query = state.selected === null ? "" : `?conversation=${state.selected}`;
    text = (await getJson(`${config.api.canned}${item.id}/render/${query}`)).text;
  } catch (error) {
    toast({ title: gettext("Variables not filled in"), body: error.message, tone: "danger" });
  }
  const field = box();
  const caret = field.selectionStart ?? field.value.length;
  field.value = field.value.slice(0, token.start) + text + field.value.slice(caret);
  const at = token.start + text.length;
  field.setSelectionRange(at, at);
  field.focus();
  picker.query = null;
}

function onKeydown(event) {
  if (!picker.open) return;
  const count = picker.items.length;
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    if (count) picker.active = (picker.active + (event.key === "ArrowDown" ? 1 : -1) + count) % count;
    drawPicker();
  } else if ((event.key === "Enter" || event.key === "Tab") && count && !event.shiftKey) {
    event.preventDefault();
    choose(picker.active);
  } else if (event.key === "Escape") {
    event.preventDefault();
    picker.query = null;
    closePicker();
  }
}

// --- the management panel ---------------------------------------------------------------------

const manage = { items: [], loaded: false };

function mayManage(item) {
  return item.scope === "personal" ? item.owner === me.id : config.can_manage_shared_canned;
}

async function loadManaged() {
  try {
    manage.items = await getAll(`${config.api.canned}?page_size=500`);
    manage.loaded = true;
  } catch (error) {
    toast({ title: gettext("Canned responses unavailable"), body: error.message, tone: "danger" });
  }
  drawManaged();
}

function drawManaged() {
  fill(
    byId("canned-list"),
    manage.items.length
      ? manage.items.map((item) =>
          h(
            "li",
            { class: "canned-row", dataset: { shortcode: item.shortcode, scope: item.scope } },
            h(
              "span",
              { class: "canned-row-text" },
              h("span", { class: "canned-code" }, `/${item.shortcode}`),
              ` ${item.title} `,
              h("span", { class: "tag tag-label" }, item.scope === "company" ? gettext("shared") : gettext("mine")),
            ),
            mayManage(item)
              ? h(
                  "button",
                  {
                    type: "button",
                    class: "small",
                    "aria-label": interpolate(gettext("Delete /%(shortcode)s"), { shortcode: item.shortcode }),
                    onclick: () => removeCanned(item),
                  },
                  gettext("Delete"),
                )
              : null,
          ),
        )
      : [h("li", { class: "empty" }, manage.loaded ? gettext("No canned responses yet.") : gettext("Loading…"))],
  );
}

async function removeCanned(item) {
  try {
    await sendJson(`${config.api.canned}${item.id}/`, "DELETE");
    manage.items = manage.items.filter((other) => other.id !== item.id);
    drawManaged();
  } catch (error) {
    toast({ title: gettext("Not deleted"), body: error.message, tone: "danger" });
  }
}

async function addCanned(event) {
  event.preventDefault();
  const error = byId("canned-error");
  error.hidden = true;
  const body = {
    shortcode: byId("canned-shortcode").value.trim(),
    title: byId("canned-title-input").value.trim(),
    text: byId("canned-text").value,
    scope: byId("canned-scope").value,
  };
  try {
    const made = await sendJson(config.api.canned, "POST", body);
    manage.items = [...manage.items, made].sort((a, b) => a.shortcode.localeCompare(b.shortcode));
    byId("canned-form").reset();
    drawManaged();
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
  }
}

export function initCanned() {
  const field = box();
  field.addEventListener("input", onInput);
  field.addEventListener("keydown", onKeydown);
  field.addEventListener("blur", () => setTimeout(closePicker, 150));
  if (!config.can_manage_shared_canned) {
    byId("canned-scope").querySelector('option[value="company"]').remove();
  }
  byId("canned-manage").addEventListener("toggle", () => {
    if (byId("canned-manage").open && !manage.loaded) loadManaged();
  });
  byId("canned-form").addEventListener("submit", addCanned);
  render();
}
