// What an agent does to a chat: accept (or take from the queue), decline, resolve, transfer and
// escalate — the toolbar of the open chat, the buttons in the lists, and the three dialogs.
// Each is a socket request (`act`): the chat is busy until its ack or error, which a toast
// reports; the events that follow bring the new state.

import { gettext, interpolate } from "../i18n.js";
import { render } from "./bus.js";
import { getAll } from "./rest.js";
import { selectChat } from "./selection.js";
import { live } from "./socket.js";
import { config, me, nameOf, state } from "./state.js";
import { byId, fill, h, statusLabel, toast } from "./ui.js";

/** "Could not …" for each socket action, as a toast's title. */
function failureTitle(action) {
  const titles = {
    accept: gettext("Could not accept the chat"),
    decline: gettext("Could not decline the chat"),
    resolve: gettext("Could not resolve the chat"),
    transfer: gettext("Could not transfer the chat"),
    escalate: gettext("Could not escalate the chat"),
  };
  return titles[action] || interpolate(gettext("Could not %(action)s"), { action });
}

/** A chat's buttons are off while an action on it is in flight, or while we are not live. */
export function busyOrOffline(id) {
  return !live.live || state.busy.has(id);
}

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
        title: failureTitle(action),
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

export function accept(id) {
  act("accept", { conversation_id: id }, { conversationId: id })
    .then(() => selectChat(id))
    .catch(() => {});
}

export function resolve(id) {
  act(
    "resolve",
    { conversation_id: id },
    { conversationId: id, success: gettext("Chat resolved") },
  ).catch(() => {});
}

export function openDecline(id) {
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

async function loadRoster() {
  const rows = await getAll(`${config.api.users}?is_active=true&page_size=500`);
  state.roster = rows.filter(
    (user) => (user.role === "agent" || user.role === "supervisor") && user.id !== me.id,
  );
  return state.roster;
}

async function openTransfer(id) {
  const dialog = byId("transfer-dialog");
  dialog.dataset.conversationId = String(id);
  byId("transfer-reason").value = "";
  byId("transfer-client").textContent = nameOf(id);
  const select = byId("transfer-target");
  fill(select, [
    h("option", { value: "queue" }, gettext("Back to the queue")),
    h("option", { value: "", disabled: true }, gettext("Loading colleagues…")),
  ]);
  dialog.showModal();
  try {
    const roster = await loadRoster();
    fill(select, [
      h("option", { value: "queue" }, gettext("Back to the queue")),
      ...roster.map((user) => h("option", { value: String(user.id) }, colleagueText(user))),
    ]);
  } catch (error) {
    fill(select, [h("option", { value: "queue" }, gettext("Back to the queue"))]);
    toast({
      title: gettext("Could not load your colleagues"),
      body: error.message,
      tone: "warning",
    });
  }
}

/** "Ana Ruiz (available)", "Sam Lee (away, supervisor)". */
function colleagueText(user) {
  const name = [user.first_name, user.last_name].filter(Boolean).join(" ") || user.username;
  const format =
    user.role === "supervisor" ? gettext("%(name)s (%(status)s, supervisor)") : gettext("%(name)s (%(status)s)");
  return interpolate(format, { name, status: statusLabel(user.status) });
}

function onDialogSubmit(dialogId, handler) {
  byId(dialogId)
    .querySelector("form")
    .addEventListener("submit", (event) => {
      if (!event.submitter || event.submitter.value !== "ok") return;
      handler(Number(byId(dialogId).dataset.conversationId));
    });
}

/** What a decline means for me: the chat is not offered to me again for the company's
 * cool-down (I can still take it from the queue). */
function declinedText(result) {
  const seconds = result && result.cooldown_seconds;
  return seconds
    ? interpolate(gettext("Declined — not offered to you again for %(seconds)s s"), { seconds })
    : gettext("Declined");
}

export function initChatActions() {
  onDialogSubmit("decline-dialog", (id) => {
    const reason = byId("decline-reason").value.trim();
    act("decline", { conversation_id: id, reason }, { conversationId: id, success: declinedText }).catch(
      () => {},
    );
  });

  onDialogSubmit("escalate-dialog", (id) => {
    const reason = byId("escalate-reason").value.trim();
    act("escalate", { conversation_id: id, reason }, { conversationId: id, success: gettext("Escalated") }).catch(
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
    act("transfer", fields, { conversationId: id, success: gettext("Transferred") }).catch(() => {});
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
}
