// The agent console (/console/): the queue, my chats with live SLA clocks, the transcript and
// the reply box, chat actions, my status, unread badges and toasts — all live over /ws/agent/.
//
// One module per panel, around a shared state (state.js) and event bus (bus.js):
//
//   socket.js ── snapshot / event ──> sync.js (applies it to state.js)
//             ── then emits it on bus.js ──> panels react (alerts.js, selection.js…)
//             ── then render() ──> every panel's renderer, in the order registered below
//
// A new panel is a module with an init function that registers its renderer (`onRender`) and
// its listeners (`on("chat.message", …)`, `on("chat:selected", …)`), added to the list here.

import { render } from "./bus.js";
import { initAlerts } from "./alerts.js";
import { initCanned } from "./canned.js";
import { initAttachments } from "./attachments.js";
import { initChatActions } from "./chat-actions.js";
import { initClocks } from "./clocks.js";
import { initConversation } from "./conversation.js";
import { initDesktopAlerts } from "./desktop-alerts.js";
import { initFilters } from "./filters.js";
import { initLabels } from "./labels.js";
import { initMentions } from "./mentions.js";
import { initMyChats } from "./my-chats.js";
import { initNotifications } from "./notifications.js";
import { initProfile } from "./profile.js";
import { initQueue } from "./queue.js";
import { initReply } from "./reply.js";
import { initSelection } from "./selection.js";
import { initShortcuts } from "./shortcuts.js";
import { live } from "./socket.js";
import { initStatus } from "./status.js";
import { initTyping } from "./typing.js";

// Listeners first (in this order), then the renderers in the order they draw; the clocks tick
// last, over what the panels drew.
initAlerts();
initDesktopAlerts();
initSelection();
initChatActions();
initMentions();
initProfile();
// Before the reply box: the canned picker takes Enter first while it is open.
initCanned();
initReply();
initAttachments();
initStatus();
initMyChats();
initQueue();
initNotifications();
initConversation();
initLabels();
// After the labels: its label-filter listener runs first, then the filters' own.
initFilters();
initTyping();
initShortcuts();
initClocks();

live.start();
render();
