// Shared by the supervisors' conversations pages (/conversations/ and /conversations/<id>/):
// the live socket to /ws/wallboard/ (the supervisors' group carries every chat event), the
// connection indicator, and JSON calls to the REST actions with the CSRF token.

import { describeState, exposeDebug, LiveSocket } from "../console/live.js";
import { byId, readConfig, showConnection } from "../console/ui.js";

export function startLive(configId, onEvent) {
  const config = readConfig(configId);
  const connection = byId("connection");
  const live = new LiveSocket({
    url: config.ws_url,
    heartbeatSeconds: config.heartbeat_seconds,
    onSnapshot() {},
    onEvent,
    onState(state, detail) {
      showConnection(connection, describeState(state, detail));
      byId("monitor").dataset.live = state === "live" ? "true" : "false";
    },
  });
  exposeDebug(live, {});
  live.start();
  return { config, live };
}

/** POST `body` as JSON; resolves with the answer's JSON, rejects with a readable message. */
export async function post(config, url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json",
      Accept: "application/json",
      "X-CSRFToken": config.csrf_token,
    },
    body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message =
      data.message ||
      data.detail ||
      Object.entries(data)
        .map(([field, errors]) => `${field}: ${[].concat(errors).join(" ")}`)
        .join("; ") ||
      String(response.status);
    throw new Error(message);
  }
  return data;
}
