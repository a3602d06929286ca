// Files on messages: how the transcript shows them (images inline, audio and video in players,
// others as downloads; pending and failed ones say so) and the reply box's own files (picked,
// dropped or pasted, uploaded at once, sent by id with the reply).
// Links are the server's short-lived signed URLs; nothing here builds one.

import { gettext, interpolate } from "../i18n.js";
import { render } from "./bus.js";
import { config } from "./state.js";
import { byId, h, toast } from "./ui.js";


export function humanSize(bytes) {
  if (bytes === null || bytes === undefined) return "";
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} B`;
}

function kindOf(contentType) {
  const major = (contentType || "").split("/")[0];
  return ["image", "audio", "video"].includes(major) ? major : "file";
}

/** What changes an attachment's drawing: redraw the message when this differs. */
export function attachmentsKey(attachments) {
  return (attachments || []).map((a) => `${a.id}:${a.status}`).join(",");
}

function attachmentItem(attachment) {
  const name = attachment.name || gettext("file");
  const size = humanSize(attachment.size);
  const label = size ? `${name} (${size})` : name;
  if (attachment.status === "pending") {
    return h(
      "li",
      { class: "attachment pending", dataset: { status: "pending" } },
      interpolate(gettext("%(name)s — receiving…"), { name }),
    );
  }
  if (attachment.status === "failed" || !attachment.url) {
    const reason = attachment.error ? `: ${attachment.error}` : "";
    return h(
      "li",
      { class: "attachment failed", dataset: { status: "failed" } },
      interpolate(gettext("%(name)s — not received"), { name }) + reason,
    );
  }
  const kind = kindOf(attachment.content_type);
  let body;
  if (kind === "image") {
    body = h(
      "a",
      { href: attachment.url, target: "_blank", rel: "noopener", class: "attachment-image" },
      h("img", { src: attachment.url, alt: name, loading: "lazy" }),
    );
  } else if (kind === "audio" || kind === "video") {
    body = h(kind, { src: attachment.url, controls: true, preload: "metadata", "aria-label": name });
  } else {
    body = null;
  }
  return h(
    "li",
    { class: `attachment ${kind}`, dataset: { status: "ready", kind } },
    body,
    h("a", { href: attachment.url, download: name, class: "attachment-link" }, label),
  );
}

/** The files of one message, or null when it has none. */
export function attachmentList(attachments) {
  if (!attachments || attachments.length === 0) return null;
  return h(
    "ul",
    { class: "attachments", "aria-label": gettext("Attachments") },
    attachments.map(attachmentItem),
  );
}

// --- the reply box's files -----------------------------------------------------------------

let nextKey = 1;
const outgoing = new Map(); // key -> {name, size, status: uploading|ready|failed, id, error}

/** Ids of the uploaded files to send with the next reply. */
export function readyIds() {
  return [...outgoing.values()].filter((f) => f.status === "ready").map((f) => f.id);
}

export function uploading() {
  return [...outgoing.values()].some((f) => f.status === "uploading");
}

export function clearOutgoing() {
  outgoing.clear();
  drawOutgoing();
}

async function uploadOne(file) {
  const key = nextKey++;
  outgoing.set(key, { name: file.name || gettext("pasted file"), size: file.size, status: "uploading" });
  drawOutgoing();
  const form = new FormData();
  form.append("file", file, file.name || "pasted");
  try {
    const response = await fetch(config.api.attachments, {
      method: "POST",
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-CSRFToken": config.csrf_token },
      body: form,
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const reason = (body.file && body.file[0]) || body.detail || interpolate(gettext("The server answered %(status)s."), { status: response.status });
      throw new Error(reason);
    }
    outgoing.set(key, { ...outgoing.get(key), status: "ready", id: body.id, size: body.size });
  } catch (error) {
    outgoing.delete(key);
    toast({ title: gettext("File not attached"), body: `${file.name}: ${error.message}`, tone: "danger" });
  }
  drawOutgoing();
  render();
}

function addFiles(files) {
  for (const file of files) uploadOne(file);
}

function drawOutgoing() {
  const list = byId("reply-files");
  if (!list) return;
  list.replaceChildren(
    ...[...outgoing.entries()].map(([key, file]) =>
      h(
        "li",
        { class: `outgoing-file ${file.status}`, dataset: { status: file.status } },
        file.status === "uploading"
          ? interpolate(gettext("%(name)s — uploading…"), { name: file.name })
          : `${file.name} (${humanSize(file.size)})`,
        h(
          "button",
          {
            type: "button",
            class: "link-button",
            "aria-label": interpolate(gettext("Remove %(name)s"), { name: file.name }),
            onclick: () => {
              outgoing.delete(key);
              drawOutgoing();
              render();
            },
          },
          "×",
        ),
      ),
    ),
  );
  list.hidden = outgoing.size === 0;
}

export function initAttachments() {
  const form = byId("reply-form");
  const picker = byId("reply-file");
  const pick = byId("reply-attach");
  if (!form || !picker || !pick) return;
  pick.addEventListener("click", () => picker.click());
  picker.addEventListener("change", () => {
    addFiles([...picker.files]);
    picker.value = "";
  });
  form.addEventListener("dragover", (event) => {
    if ([...event.dataTransfer.types].includes("Files")) {
      event.preventDefault();
      form.classList.add("dropping");
    }
  });
  form.addEventListener("dragleave", () => form.classList.remove("dropping"));
  form.addEventListener("drop", (event) => {
    form.classList.remove("dropping");
    if (event.dataTransfer.files.length === 0) return;
    event.preventDefault();
    addFiles([...event.dataTransfer.files]);
  });
  byId("reply-text").addEventListener("paste", (event) => {
    const files = [...(event.clipboardData?.files || [])];
    if (files.length === 0) return;
    event.preventDefault();
    addFiles(files);
  });
  drawOutgoing();
}
