// A chat as a line in a list (my chats, the queue): the button that opens it, with the
// customer's name, VIP and priority tags, an unread badge and a line of details.

import { gettext, interpolate, ngettext } from "../i18n.js";
import { selectChat, shownUnread } from "./selection.js";
import { clientName, customerTyping, state } from "./state.js";
import { h, priorityLabel } from "./ui.js";

/** The unread (or urgent) count of a chat as a badge; null when there is none to show. */
export function unreadBadge(chat) {
  const { unread, urgent } = shownUnread(chat.conversation_id);
  if (!unread && !urgent) return null;
  const count = unread || urgent;
  return h(
    "span",
    {
      class: urgent ? "badge badge-urgent" : "badge",
      "aria-label": interpolate(
        urgent
          ? ngettext("%(count)s unread, urgent", "%(count)s unread, urgent", count)
          : ngettext("%(count)s unread", "%(count)s unread", count),
        { count },
      ),
    },
    String(count),
  );
}

/** The clickable summary of a chat in a list: name, VIP and priority (then `tags`), and a sub
 * line of `details`. */
export function chatButton(chat, details, tags = null) {
  const id = chat.conversation_id;
  return h(
    "button",
    {
      type: "button",
      class: "chat-open",
      "aria-current": state.selected === id ? "true" : null,
      onclick: () => selectChat(id),
    },
    h(
      "span",
      { class: "chat-line" },
      h("span", { class: "chat-name" }, clientName(chat)),
      chat.client && chat.client.vip ? h("span", { class: "tag tag-vip" }, gettext("VIP")) : null,
      h("span", { class: `tag priority priority-${chat.priority}` }, priorityLabel(chat.priority)),
      // The named queue it waits in or came from (chats outside any named queue have none).
      chat.queue && chat.queue.name
        ? h(
            "span",
            {
              class: "tag tag-queue",
              title: interpolate(gettext("Queue: %(name)s"), { name: chat.queue.name }, true),
            },
            chat.queue.name,
          )
        : null,
      ...(chat.labels || []).map((name) => h("span", { class: "tag tag-label" }, name)),
      customerTyping(id) ? h("span", { class: "tag tag-typing" }, gettext("typing…")) : null,
      tags,
    ),
    h("span", { class: "chat-line chat-sub" }, ...details),
  );
}
