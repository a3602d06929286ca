// Mentions: a colleague's note named me (`mention` event) — a toast that opens the chat, on
// every console I have open. Also how any chat of the company is opened (a mention, the
// customer panel's history): chats that are neither mine nor waiting are read over REST.

import { gettext, interpolate } from "../i18n.js";
import { on } from "./bus.js";
import { getJson } from "./rest.js";
import { selectChat } from "./selection.js";
import { config, state } from "./state.js";
import { toast } from "./ui.js";

/** A REST conversation row in the shape events carry (payloads.conversation_data). */
function fromRest(row) {
  return {
    ...row,
    conversation_id: row.id,
    client: {
      id: row.client.id,
      name: row.client.name || row.client.external_id,
      vip: row.client.vip,
    },
    channel: { id: row.channel.id, provider: row.channel.provider },
  };
}

/** Open any chat of the company in the conversation view (read-only unless it is mine). */
export async function openAnyChat(id) {
  if (!state.known.has(id)) {
    try {
      state.known.set(id, fromRest(await getJson(`${config.api.conversations}${id}/`)));
    } catch (error) {
      toast({ title: gettext("The chat could not be opened"), body: error.message, tone: "danger" });
      return;
    }
  }
  selectChat(id);
}

export function initMentions() {
  on("mention", (data) => {
    toast({
      title: interpolate(gettext("%(name)s mentioned you"), { name: data.author.name }),
      body: `${data.client.name}: ${data.text}`,
      key: `mention-${data.message_id}`,
      onOpen: () => openAnyChat(data.conversation_id),
    });
  });
}
