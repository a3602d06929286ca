// The console's toasts: which event says what, how loudly (the polite #toasts region or the
// assertive #alerts one, ui.js `toast`), and which toast a later event makes old news.

import { gettext, interpolate } from "../i18n.js";
import { on } from "./bus.js";
import { selectChat } from "./selection.js";
import { clientName, me, nameOf, state } from "./state.js";
import {
  dismissToast,
  escalationStepText,
  priorityLabel,
  statusLabel,
  timeOfDay,
  toast,
} from "./ui.js";

export function initAlerts() {
  on("offer:expired", (chat) => {
    toast({
      title: interpolate(gettext("Offer expired: %(name)s"), { name: clientName(chat) }),
      body: gettext("The chat went back to the queue."),
    });
  });
  // The "new chat" toast is old news once the offer is taken, declined or gone.
  on("offer:settled", (id) => dismissToast(`chat-${id}`));

  on("snapshot", (data) => {
    if (data.resync) {
      toast({
        title: gettext("Reconnected"),
        body: gettext("Some updates were missed, so everything was reloaded."),
      });
    }
  });

  on("chat.offered", (data) => {
    if (data.assigned_to !== me.id) return;
    toast({
      title: gettext("New chat for you"),
      body: interpolate(gettext("%(name)s · %(priority)s priority"), {
        name: clientName(data),
        priority: priorityLabel(data.priority),
      }),
      tone: data.priority === "urgent" ? "danger" : "info",
      key: `chat-${data.conversation_id}`,
      onOpen: () => selectChat(data.conversation_id),
    });
  });

  on("chat.transferred", (data) => {
    if (data.to_agent_id !== me.id) return;
    const what =
      data.kind === "escalation"
        ? gettext("Escalated to you: %(name)s")
        : gettext("Transferred to you: %(name)s");
    toast({
      title: interpolate(what, { name: clientName(data) }),
      body: data.reason || "",
      tone: "warning",
      urgent: data.kind === "escalation",
      // A transfer is an offer (its toast goes once it is taken); an escalation is not.
      key: `${data.kind === "escalation" ? "escalated" : "chat"}-${data.conversation_id}`,
      onOpen: () => selectChat(data.conversation_id),
    });
  });

  on("alert.urgent", (data) => {
    toast({
      title: interpolate(gettext("Urgent: %(name)s"), { name: clientName(data) }),
      body: data.text || data.reason || gettext("A chat needs attention now."),
      tone: "danger",
      urgent: true,
      onOpen: () => selectChat(data.conversation_id),
    });
  });

  on("sla.breached", (data) => {
    if (data.stage === "escalation") {
      // A ladder step on my chat (a raised priority): its own words, not a second breach.
      toast({
        ...escalationStepText(data, nameOf(data.conversation_id)),
        tone: "warning",
        key: `sla-step-${data.conversation_id}-${data.kind}-${data.escalation?.step}`,
        onOpen: () => selectChat(data.conversation_id),
      });
      return;
    }
    slaToast(data, true);
  });
  on("sla.warning", (data) => slaToast(data, false));

  on("agent.status", (data, { was }) => {
    if (data.agent_id !== me.id) return;
    if (was && was !== data.status && !state.statusBusy) {
      toast({
        title: interpolate(gettext("You are now %(status)s"), { status: statusLabel(data.status) }),
        tone: "warning",
      });
    }
  });
}

function slaToast(data, breached) {
  const firstResponse = data.kind === "first_response";
  const title = breached ? gettext("SLA breached: %(name)s") : gettext("SLA warning: %(name)s");
  let body;
  if (breached) {
    body = firstResponse
      ? gettext("First response target missed.")
      : gettext("Resolution target missed.");
  } else {
    body = interpolate(
      firstResponse
        ? gettext("First response due at %(time)s.")
        : gettext("Resolution due at %(time)s."),
      { time: timeOfDay(data.due_at) },
    );
  }
  toast({
    title: interpolate(title, { name: nameOf(data.conversation_id) }),
    body,
    tone: breached ? "danger" : "warning",
    // Loud for my own chats; a waiting chat's clock (agent_id null) concerns everyone a bit.
    urgent: breached && data.agent_id === me.id,
    onOpen: () => selectChat(data.conversation_id),
  });
}
