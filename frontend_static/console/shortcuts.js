// Keyboard shortcuts, and the `?` overlay that lists them.
//
// Single keys act on the open chat or move between chats, like a mail client's. They never
// fire while the person types in a field (a reply, the search box, a dialog), with a modifier
// held, or while a dialog is open — except the two documented to work everywhere: Esc leaves
// the field (back to the shortcuts), and Alt+↓ / Alt+↑ go to the next / previous chat.
// "Next" follows the lists as drawn, filters included: my chats first, then the queue.

import { gettext } from "../i18n.js";
import { accept, openDecline, resolve } from "./chat-actions.js";
import { focusSearch } from "./filters.js";
import { openChat } from "./selection.js";
import { state } from "./state.js";
import { keepAtBottom } from "./transcript.js";
import { byId, fill, h } from "./ui.js";

/** The shortcuts, in the overlay's order: key label, what it does, and the handler. */
const SHORTCUTS = [
  { keys: ["j"], label: () => gettext("Next chat"), run: () => step(1) },
  { keys: ["k"], label: () => gettext("Previous chat"), run: () => step(-1) },
  { keys: ["a"], label: () => gettext("Accept the offer, or take the chat from the queue"), run: acceptOpen },
  { keys: ["x"], label: () => gettext("Decline the offer…"), run: declineOpen },
  { keys: ["e"], label: () => gettext("Resolve the chat"), run: resolveOpen },
  { keys: ["r"], label: () => gettext("Write a reply"), run: focusReply },
  { keys: ["/"], label: () => gettext("Search the canned responses"), run: cannedSearch },
  { keys: ["s"], label: () => gettext("Search and filter the chats"), run: focusSearch },
  { keys: ["?"], label: () => gettext("Show these shortcuts"), run: openOverlay },
];
/** Shown in the overlay, handled in `onKeydown` (they work in fields too). */
const EVERYWHERE = [
  { keys: ["Alt", "↓"], label: () => gettext("Next chat (also while typing)") },
  { keys: ["Alt", "↑"], label: () => gettext("Previous chat (also while typing)") },
  { keys: ["Esc"], label: () => gettext("Leave the field you are typing in") },
];

function chatIds() {
  return [...document.querySelectorAll("#my-chats li[data-conversation-id], #queue li[data-conversation-id]")].map(
    (item) => Number(item.dataset.conversationId),
  );
}

function step(by) {
  const ids = chatIds();
  if (!ids.length) return;
  const at = ids.indexOf(state.selected);
  const next = at < 0 ? (by > 0 ? 0 : ids.length - 1) : (at + by + ids.length) % ids.length;
  // Opened without moving the focus to the reply box (a click does that): the next key is
  // still a shortcut, so j j j walks the list. `r` goes to the reply when wanted.
  keepAtBottom();
  openChat(ids[next]);
}

function openChatRecord() {
  return state.selected === null ? null : state.known.get(state.selected);
}

function acceptOpen() {
  const chat = openChatRecord();
  if (!chat) return;
  const mine = state.chats.get(chat.conversation_id);
  if ((mine && mine.assignment_status === "offered") || chat.status === "waiting") {
    accept(chat.conversation_id);
  }
}

function declineOpen() {
  const mine = state.chats.get(state.selected);
  if (mine && mine.assignment_status === "offered") openDecline(mine.conversation_id);
}

function resolveOpen() {
  const mine = state.chats.get(state.selected);
  if (mine && mine.assignment_status === "accepted") resolve(mine.conversation_id);
}

function focusReply() {
  const box = byId("reply-text");
  if (box.disabled || byId("conversation-body").hidden) return;
  box.focus();
}

/** `/` in an empty reply box opens the canned picker (canned.js listens to its input). */
function cannedSearch() {
  const box = byId("reply-text");
  if (box.disabled || byId("conversation-body").hidden) return;
  box.focus();
  if (!box.value.trim()) {
    box.value = "/";
    box.setSelectionRange(1, 1);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }
}

function typingInField(target) {
  if (!(target instanceof Element)) return false;
  return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
}

function onKeydown(event) {
  if (event.defaultPrevented || event.isComposing) return;
  const overlay = byId("shortcuts-dialog");
  if (event.altKey && !event.ctrlKey && !event.metaKey && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
    if (document.querySelector("dialog[open]")) return;
    event.preventDefault();
    step(event.key === "ArrowDown" ? 1 : -1);
    return;
  }
  if (typingInField(event.target)) {
    if (event.key === "Escape" && !event.target.closest("dialog")) {
      event.target.blur(); // back to the shortcuts
    }
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (document.querySelector("dialog[open]") || overlay.open) return;
  const shortcut = SHORTCUTS.find((item) => item.keys.includes(event.key));
  if (!shortcut) return;
  event.preventDefault();
  shortcut.run();
}

// --- the overlay: a modal <dialog>, labelled by its heading; Esc closes it (the browser's own
// cancel), Tab stays inside it, and focus goes back to where it was. ---------------------------

let returnFocus = null;

function drawOverlay() {
  const row = (item) =>
    h(
      "tr",
      {},
      h("td", {}, ...item.keys.flatMap((key, i) => [i ? " + " : null, h("kbd", {}, key)])),
      h("td", {}, item.label()),
    );
  fill(byId("shortcuts-list"), SHORTCUTS.map(row));
  fill(byId("shortcuts-everywhere"), EVERYWHERE.map(row));
}

export function openOverlay() {
  const dialog = byId("shortcuts-dialog");
  if (dialog.open) return;
  returnFocus = document.activeElement;
  drawOverlay();
  dialog.showModal();
  byId("shortcuts-close").focus();
}

function trapFocus(event) {
  if (event.key !== "Tab") return;
  const dialog = byId("shortcuts-dialog");
  const focusable = [...dialog.querySelectorAll("button, [href], [tabindex]:not([tabindex='-1'])")].filter(
    (node) => !node.disabled && !node.hidden,
  );
  if (!focusable.length) return;
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (event.shiftKey && document.activeElement === first) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && document.activeElement === last) {
    event.preventDefault();
    first.focus();
  }
}

export function initShortcuts() {
  document.addEventListener("keydown", onKeydown);
  const dialog = byId("shortcuts-dialog");
  dialog.addEventListener("keydown", trapFocus);
  dialog.addEventListener("close", () => {
    if (returnFocus && typeof returnFocus.focus === "function") returnFocus.focus();
    returnFocus = null;
  });
  byId("shortcuts-open").addEventListener("click", openOverlay);
}
