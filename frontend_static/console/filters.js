// Search and filter over my chats and the queue: words, priority, label and channel, applied
// to the console's own state as the user types (no request: everything shown is already here).
// The label choice lives in labels.js (it knows the company's labels); the rest here. The lists
// (my-chats.js, queue.js) draw only what `passesFilters` lets through and say how many hid.

import { gettext, interpolate } from "../i18n.js";
import { render } from "./bus.js";
import { passesLabelFilter } from "./labels.js";
import { clientName, state } from "./state.js";
import { byId } from "./ui.js";

state.filter = { words: [], priority: "", channel: "" };

/** What a chat can be found by: its customer, number, subject, category, language, labels. */
function haystack(chat) {
  return [
    clientName(chat),
    `#${chat.conversation_id}`,
    chat.subject,
    chat.category,
    chat.language,
    chat.channel && chat.channel.provider,
    ...(chat.labels || []),
  ]
    .filter(Boolean)
    .join(" ")
    .toLocaleLowerCase();
}

/** Whether a chat passes every filter of the lists (every word must be found). */
export function passesFilters(chat) {
  const { words, priority, channel } = state.filter;
  if (priority && chat.priority !== priority) return false;
  if (channel && !(chat.channel && chat.channel.provider === channel)) return false;
  if (!passesLabelFilter(chat)) return false;
  if (!words.length) return true;
  const text = haystack(chat);
  return words.every((word) => text.includes(word));
}

/** Whether any filter is on (the lists then say how many chats it hides). */
export function filtering() {
  const { words, priority, channel } = state.filter;
  return Boolean(words.length || priority || channel || state.labelFilter);
}

/** "2 hidden by the filter" under a list, or nothing. */
export function hiddenText(shown, total) {
  const hidden = total - shown;
  if (!filtering() || hidden <= 0) return "";
  return interpolate(gettext("%(hidden)s hidden by the filter"), { hidden });
}

function readFilters() {
  const words = byId("chat-search").value.trim().toLocaleLowerCase();
  state.filter = {
    words: words ? words.split(/\s+/) : [],
    priority: byId("priority-filter").value,
    channel: byId("channel-filter").value,
  };
  byId("filters-clear").hidden = !filtering();
  render();
}

export function clearFilters() {
  byId("chat-search").value = "";
  byId("priority-filter").value = "";
  byId("channel-filter").value = "";
  const label = byId("label-filter");
  label.value = "";
  label.dispatchEvent(new Event("change"));
  readFilters();
}

/** Put the cursor in the search box (the `s` shortcut). */
export function focusSearch() {
  const field = byId("chat-search");
  field.focus();
  field.select();
}

export function initFilters() {
  byId("chat-search").addEventListener("input", readFilters);
  byId("chat-search").addEventListener("keydown", (event) => {
    if (event.key === "Escape" && byId("chat-search").value) {
      event.preventDefault(); // the first Esc empties the box, the next one leaves it
      byId("chat-search").value = "";
      readFilters();
    }
  });
  byId("priority-filter").addEventListener("change", readFilters);
  byId("channel-filter").addEventListener("change", readFilters);
  byId("label-filter").addEventListener("change", () => {
    byId("filters-clear").hidden = !filtering();
  });
  byId("filters-clear").addEventListener("click", clearFilters);
}
