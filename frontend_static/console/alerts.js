// The console's toasts: which event says what, how loudly (the polite #toasts region or the
// assertive #alerts one, ui.js `toast`), and which toast a later event makes old news.

import { on } from "./bus.js";
import { selectChat } from "./selection.js";
import { clientName, me, nameOf, state } from "./state.js";
import { dismissToast, escalationStepText, timeOfDay, toast } from "./ui.js";

export function initAlerts() {
  on("offer:expired", (chat) => {
    toast({ title: `Offer expired: ${clientName(chat)}`, body: "The chat went back to the queue." });
  });
  // The "new chat" toast is old news once the offer is taken, declined or gone.
  on("offer:settled", (id) => dismissToast(`chat-${id}`));

  on("snapshot", (data) => {
    if (data.resync) {
      toast({ title: "Reconnected", body: "Some updates were missed, so everything was reloaded." });
    }
  });

  on("chat.offered", (data) => {
    if (data.assigned_to !== me.id) return;
    toast({
      title: "New chat for you",
      body: `${clientName(data)} · ${data.priority} priority`,
      tone: data.priority === "urgent" ? "danger" : "info",
      key: `chat-${data.conversation_id}`,
      onOpen: () => selectChat(data.conversation_id),
    });
  });

  on("chat.transferred", (data) => {
    if (data.to_agent_id !== me.id) return;
    const what = data.kind === "escalation" ? "Escalated to you" : "Transferred to you";
    toast({
      title: `${what}: ${clientName(data)}`,
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
      title: `Urgent: ${clientName(data)}`,
      body: data.text || data.reason || "A chat needs attention now.",
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
      toast({ title: `You are now ${data.status}`, tone: "warning" });
    }
  });
}

function slaToast(data, breached) {
  const what = data.kind === "first_response" ? "First response" : "Resolution";
  toast({
    title: `${breached ? "SLA breached" : "SLA warning"}: ${nameOf(data.conversation_id)}`,
    body: breached ? `${what} target missed.` : `${what} due at ${timeOfDay(data.due_at)}.`,
    tone: breached ? "danger" : "warning",
    // Loud for my own chats; a waiting chat's clock (agent_id null) concerns everyone a bit.
    urgent: breached && data.agent_id === me.id,
    onOpen: () => selectChat(data.conversation_id),
  });
}
