// "My chats": what is offered to me (first, with Accept and Decline) and what I hold, oldest
// first, each with its clocks and unread badge — those that pass the filters (filters.js).

import { gettext, interpolate } from "../i18n.js";
import { onRender } from "./bus.js";
import { accept, busyOrOffline, openDecline } from "./chat-actions.js";
import { chatButton, unreadBadge } from "./chat-list.js";
import { chatClocks } from "./clocks.js";
import { hiddenText, passesFilters } from "./filters.js";
import { clientName, state } from "./state.js";
import { byId, fill, h, parseTime } from "./ui.js";

function renderMyChats() {
  const list = byId("my-chats");
  const all = [...state.chats.values()];
  const chats = all.filter(passesFilters).sort((a, b) => {
    const offered = (b.assignment_status === "offered") - (a.assignment_status === "offered");
    return offered || (parseTime(a.created_at) ?? 0) - (parseTime(b.created_at) ?? 0);
  });
  fill(
    list,
    chats.map((chat) => {
      const id = chat.conversation_id;
      const offered = chat.assignment_status === "offered";
      return h(
        "li",
        {
          class: `chat-item priority-${chat.priority}${offered ? " offered" : ""}${state.selected === id ? " selected" : ""}`,
          dataset: { conversationId: id, assignment: chat.assignment_status },
        },
        chatButton(
          chat,
          [
            h("span", { class: "muted" }, `#${id} · ${chat.channel ? chat.channel.provider : ""}`),
            ...chatClocks(chat),
          ],
          unreadBadge(chat),
        ),
        offered
          ? h(
              "span",
              { class: "chat-actions" },
              h(
                "button",
                {
                  type: "button",
                  class: "primary small",
                  "aria-label": interpolate(gettext("Accept chat with %(name)s"), {
                    name: clientName(chat),
                  }),
                  disabled: busyOrOffline(id),
                  onclick: () => accept(id),
                },
                gettext("Accept"),
              ),
              h(
                "button",
                {
                  type: "button",
                  class: "small",
                  "aria-label": interpolate(gettext("Decline chat with %(name)s"), {
                    name: clientName(chat),
                  }),
                  disabled: busyOrOffline(id),
                  onclick: () => openDecline(id),
                },
                gettext("Decline"),
              ),
            )
          : null,
      );
    }),
  );
  byId("my-chats-count").textContent = String(all.length);
  byId("my-chats-empty").hidden = all.length > 0;
  const hidden = byId("my-chats-hidden");
  hidden.textContent = hiddenText(chats.length, all.length);
  hidden.hidden = !hidden.textContent;
}

export function initMyChats() {
  onRender(renderMyChats);
}
