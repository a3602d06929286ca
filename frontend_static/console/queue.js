// The queue: waiting chats in routing order (priority, then longest wait), each with its wait
// and first-response clocks and a Take button; a line for those the snapshot did not list.

import { gettext, interpolate, ngettext } from "../i18n.js";
import { onRender } from "./bus.js";
import { accept, busyOrOffline } from "./chat-actions.js";
import { chatButton } from "./chat-list.js";
import { clockSpan } from "./clocks.js";
import { hiddenText, passesFilters } from "./filters.js";
import { clientName, state } from "./state.js";
import { byId, byRoutingOrder, fill, h } from "./ui.js";

function renderQueue() {
  const list = byId("queue");
  const all = [...state.queue.values()];
  const waiting = all.filter(passesFilters).sort(byRoutingOrder);
  fill(
    list,
    waiting.map((chat) => {
      const id = chat.conversation_id;
      return h(
        "li",
        {
          class: `chat-item priority-${chat.priority}${state.selected === id ? " selected" : ""}`,
          dataset: { conversationId: id },
        },
        chatButton(chat, [
          h("span", { class: "muted" }, `#${id}`),
          clockSpan("wait", chat),
          chat.first_response_due_at ? clockSpan("first_response", chat) : null,
        ]),
        h(
          "span",
          { class: "chat-actions" },
          h(
            "button",
            {
              type: "button",
              class: "small",
              "aria-label": interpolate(gettext("Take chat with %(name)s from the queue"), {
                name: clientName(chat),
              }),
              disabled: busyOrOffline(id),
              onclick: () => accept(id),
            },
            gettext("Take"),
          ),
        ),
      );
    }),
  );
  byId("queue-count").textContent = String(all.length + state.queueBeyond);
  byId("queue-empty").hidden = all.length > 0 || state.queueBeyond > 0;
  const hidden = byId("queue-hidden");
  hidden.textContent = hiddenText(waiting.length, all.length);
  hidden.hidden = !hidden.textContent;
  const more = byId("queue-more");
  more.hidden = state.queueBeyond === 0;
  more.textContent = interpolate(
    ngettext(
      "…and %(more)s more waiting (the console lists the first %(listed)s).",
      "…and %(more)s more waiting (the console lists the first %(listed)s).",
      state.queueBeyond,
    ),
    { more: state.queueBeyond, listed: all.length },
  );
}

export function initQueue() {
  onRender(renderQueue);
}
