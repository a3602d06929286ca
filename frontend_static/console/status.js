// My status (available, away, offline) in the bar, and the "Reconnect now" button that shows
// while the socket is down.

import { gettext } from "../i18n.js";
import { onRender, render } from "./bus.js";
import { connection, live } from "./socket.js";
import { state } from "./state.js";
import { byId, toast } from "./ui.js";

function renderStatus() {
  const select = byId("status-select");
  const status = state.agent ? state.agent.status : "";
  if (!state.statusBusy && select.value !== status) select.value = status;
  select.disabled = !live.live || state.statusBusy || !state.agent;
  select.dataset.status = status;
  byId("reconnect").hidden = ["live", "connecting", "reconnecting", "idle"].includes(
    connection.state,
  );
}

export function initStatus() {
  onRender(renderStatus);
  byId("status-select").addEventListener("change", (event) => {
    const wanted = event.target.value;
    state.statusBusy = true;
    render();
    live
      .request("set_status", { status: wanted })
      .then((ack) => {
        state.agent = { ...state.agent, status: ack.status };
      })
      .catch((error) => {
        toast({ title: gettext("Status not changed"), body: error.message || error.code, tone: "danger" });
      })
      .finally(() => {
        state.statusBusy = false;
        render();
      });
  });
  byId("reconnect").addEventListener("click", () => live.wake());
}
