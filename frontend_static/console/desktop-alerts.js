// Sounds and desktop notifications for what needs the agent while they look elsewhere: a new
// offer (or a transfer to them), an urgent alert, an SLA warning or breach.
//
// * Silent while the console tab has the focus: the toasts (alerts.js) already say it there.
// * Each kind × {desktop, sound} is a switch stored on the user (POST /accounts/console-alerts/,
//   tenancy/alert_preferences.py), so it follows them to every browser.
// * The browser's permission for notifications is asked only when they press the button in the
//   "Alerts" panel — never on load.
// * The sound is made with WebAudio (two short tones), nothing downloaded. Browsers only let a
//   page play sound after the person interacted with it, so the audio context is opened on the
//   first click or key press.

import { gettext, interpolate } from "../i18n.js";
import { on } from "./bus.js";
import { selectChat } from "./selection.js";
import { sendJson } from "./rest.js";
import { clientName, config, me, nameOf } from "./state.js";
import { byId, priorityLabel, toast } from "./ui.js";

const switches = { ...(config.alerts || {}) };
/** What fired, for the browser tests (`window.switchboard.alerts`). */
export const fired = [];
let audio = null;

function hasFocus() {
  return document.visibilityState === "visible" && document.hasFocus();
}

function notificationsSupported() {
  return typeof window.Notification === "function";
}

function openAudio() {
  if (audio || typeof window.AudioContext !== "function") return;
  audio = new window.AudioContext();
}

/** Two short tones: higher and quicker for urgent things. */
export function beep(kind) {
  if (!audio) return false;
  if (audio.state === "suspended") audio.resume().catch(() => {});
  const urgent = kind !== "offer";
  const tones = urgent ? [880, 660] : [660, 880];
  const start = audio.currentTime + 0.01;
  tones.forEach((frequency, i) => {
    const oscillator = audio.createOscillator();
    const gain = audio.createGain();
    oscillator.type = "sine";
    oscillator.frequency.value = frequency;
    const at = start + i * (urgent ? 0.14 : 0.2);
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.12);
    oscillator.connect(gain).connect(audio.destination);
    oscillator.start(at);
    oscillator.stop(at + 0.13);
  });
  return true;
}

function notify(kind, title, body, conversationId) {
  if (!notificationsSupported() || Notification.permission !== "granted") return false;
  const notice = new Notification(title, {
    body,
    tag: `switchboard-${kind}-${conversationId ?? ""}`,
    lang: document.documentElement.lang || undefined,
  });
  notice.onclick = () => {
    window.focus();
    if (conversationId) selectChat(conversationId);
    notice.close();
  };
  return true;
}

/** Ring and/or notify for `kind` ("offer", "urgent", "sla"), as the person's switches say. */
export function alertFor(kind, title, body, conversationId = null) {
  if (hasFocus()) {
    fired.push({ kind, title, silent: true });
    return;
  }
  const sound = switches[`${kind}_sound`] !== false && beep(kind);
  const desktop = switches[`${kind}_desktop`] !== false && notify(kind, title, body, conversationId);
  fired.push({ kind, title, silent: false, sound, desktop });
}

// --- the "Alerts" panel -------------------------------------------------------------------------

function describePermission() {
  const button = byId("alerts-permission");
  const note = byId("alerts-permission-state");
  if (!notificationsSupported()) {
    button.hidden = true;
    note.textContent = gettext("This browser cannot show desktop notifications.");
    return;
  }
  const permission = Notification.permission;
  button.hidden = permission !== "default";
  note.textContent =
    permission === "granted"
      ? gettext("Desktop notifications are allowed in this browser.")
      : permission === "denied"
        ? gettext("Desktop notifications are blocked for this site in the browser's settings.")
        : gettext("Desktop notifications need your permission in this browser.");
}

async function askPermission() {
  if (!notificationsSupported()) return;
  try {
    await Notification.requestPermission();
  } catch (error) {
    // Old browsers take a callback instead of returning a promise: the state says what happened.
  }
  describePermission();
}

async function saveSwitch(box) {
  const key = box.dataset.switch;
  const value = box.checked;
  box.disabled = true;
  try {
    const saved = await sendJson(config.api.alerts, "POST", { [key]: value });
    Object.assign(switches, saved);
  } catch (error) {
    box.checked = !value;
    toast({ title: gettext("Alert setting not saved"), body: error.message, tone: "danger" });
  } finally {
    box.disabled = false;
  }
}

function drawSwitches() {
  for (const box of document.querySelectorAll("#alert-settings input[data-switch]")) {
    box.checked = switches[box.dataset.switch] !== false;
    box.addEventListener("change", () => saveSwitch(box));
  }
}

export function initDesktopAlerts() {
  for (const type of ["pointerdown", "keydown"]) {
    document.addEventListener(type, openAudio, { once: true, capture: true });
  }
  drawSwitches();
  describePermission();
  byId("alerts-permission").addEventListener("click", askPermission);
  byId("alerts-test").addEventListener("click", () => {
    openAudio();
    beep("offer");
  });
  window.switchboard = { ...(window.switchboard || {}), alerts: fired };

  on("chat.offered", (data) => {
    if (data.assigned_to !== me.id) return;
    alertFor(
      "offer",
      interpolate(gettext("New chat: %(name)s"), { name: clientName(data) }),
      interpolate(gettext("%(priority)s priority"), { priority: priorityLabel(data.priority) }),
      data.conversation_id,
    );
  });
  on("chat.transferred", (data) => {
    if (data.to_agent_id !== me.id) return;
    alertFor(
      data.kind === "escalation" ? "urgent" : "offer",
      interpolate(gettext("Transferred to you: %(name)s"), { name: clientName(data) }),
      data.reason || "",
      data.conversation_id,
    );
  });
  on("alert.urgent", (data) => {
    alertFor(
      "urgent",
      interpolate(gettext("Urgent: %(name)s"), { name: clientName(data) }),
      data.text || data.reason || gettext("A chat needs attention now."),
      data.conversation_id,
    );
  });
  const sla = (breached) => (data) => {
    if (data.stage === "escalation") return;
    const title = breached ? gettext("SLA breached: %(name)s") : gettext("SLA warning: %(name)s");
    alertFor("sla", interpolate(title, { name: nameOf(data.conversation_id) }), "", data.conversation_id);
  };
  on("sla.warning", sla(false));
  on("sla.breached", sla(true));
}
