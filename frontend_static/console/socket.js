// The console's live connection to /ws/agent/ (live.js does the resuming, heartbeat and
// requests): every snapshot and event is applied to the state (sync.js), then emitted on the
// bus for the panels, then drawn. The connection indicator in the bar shows the socket's state.

import { emit, render } from "./bus.js";
import { describeState, exposeDebug, LiveSocket } from "./live.js";
import { config, state } from "./state.js";
import { applyEvent, applySnapshot } from "./sync.js";
import { byId, showConnection } from "./ui.js";

const connectionNode = byId("connection");

/** The socket's last state and its detail (the retry time while "waiting"). */
export const connection = { state: "idle", detail: {} };

function onSnapshot(data) {
  applySnapshot(data);
  emit("snapshot", data);
  render();
}

function onEvent(frame) {
  const extra = applyEvent(frame);
  if (extra === null) return;
  emit(frame.type, frame.data, extra);
  render();
}

export const live = new LiveSocket({
  url: config.ws_url,
  heartbeatSeconds: config.heartbeat_seconds,
  onSnapshot,
  onEvent,
  onState(socketState, detail) {
    connection.state = socketState;
    connection.detail = detail;
    showConnection(connectionNode, describeState(socketState, detail));
    render();
  },
});
exposeDebug(live, { state });

/** Count the "retrying in N s" down (the clocks' tick calls this once a second). */
export function refreshCountdown() {
  if (connection.state === "waiting") {
    showConnection(connectionNode, describeState(connection.state, connection.detail));
  }
}
