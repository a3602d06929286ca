// The "Unread" panel: a notification per customer with unread (or urgent) messages, newest
// first, but for the chat being read on screen; opening one opens its chat, dismissing it
// dismisses it on every console of mine. The total goes to the bar's badge and the tab's title.

import { gettext, interpolate, ngettext } from "../i18n.js";
import { onRender, render } from "./bus.js";
import { post } from "./rest.js";
import { openAnyChat } from "./mentions.js";
import { readOnScreen } from "./selection.js";
import { config, nameOf, state } from "./state.js";
import { applyNotification } from "./sync.js";
import { byId, fill, h, parseTime, toast } from "./ui.js";

async function dismissNotification(note) {
  const response = await post(`${config.api.notifications}${note.notification_id}/dismiss/`);
  if (!response.ok) {
    toast({
      title: gettext("Could not dismiss"),
      body: interpolate(gettext("The server answered %(status)s."), { status: response.status }),
    });
    return;
  }
  // The server also tells every open console (a `notification` with dismissed: true).
  applyNotification(await response.json().then((row) => ({ ...note, ...row, dismissed: true })));
  render();
}

function renderNotifications() {
  const notes = [...state.notifications.values()]
    .filter((note) => !readOnScreen(note.conversation_id))
    .sort(
    (a, b) => (parseTime(b.last_message_at) ?? 0) - (parseTime(a.last_message_at) ?? 0),
  );
  let total = 0;
  fill(
    byId("notifications"),
    notes.map((note) => {
      total += note.unread_count;
      const name = note.conversation_id ? nameOf(note.conversation_id) : gettext("A customer");
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
            // A mention can be about a chat that is not mine: read it over REST if need be.
            onclick: () => note.conversation_id && openAnyChat(note.conversation_id),
          },
          h(
            "span",
            { class: "chat-line" },
            h("strong", {}, name),
            h(
              "span",
              {
                class: note.urgent_count ? "badge badge-urgent" : "badge",
                "aria-label": interpolate(
                  ngettext("%(count)s unread", "%(count)s unread", note.unread_count),
                  { count: note.unread_count },
                ),
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
            "aria-label": interpolate(gettext("Dismiss the notification from %(name)s"), { name }),
            onclick: () => dismissNotification(note),
          },
          gettext("Dismiss"),
        ),
      );
    }),
  );
  byId("notifications-empty").hidden = notes.length > 0;
  const badge = byId("unread-total");
  badge.hidden = total === 0;
  badge.textContent = String(total);
  badge.setAttribute(
    "aria-label",
    interpolate(ngettext("%(count)s unread message", "%(count)s unread messages", total), {
      count: total,
    }),
  );
  const title = gettext("Console · Switchboard");
  document.title = total ? `(${total}) ${title}` : title;
}

export function initNotifications() {
  onRender(renderNotifications);
}
