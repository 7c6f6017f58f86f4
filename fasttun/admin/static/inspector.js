// fasttun's request inspector: polls the client's agent API (docs/api.md).
// Everything comes from visitors and local services: set as text only.
"use strict";
// el(), size() and api() come from common.js.

const POLL_MS = 1000;
let selected = null; // id of the request shown
let records = new Map(); // id -> record




function headersText(part) {
  if (!part) return "(no response yet)";
  return part.headers.map(([k, v]) => k + ": " + v).join("\n");
}

function bodyText(part) {
  if (!part) return "";
  const b = part.body;
  if (!b.size) return "(empty)";
  const note = b.truncated ? "\n\n[" + size(b.size) + " in all; the first 64 KiB are kept]" : "";
  if (b.text !== undefined) return b.text + note;
  return "[binary, base64]\n" + b.base64 + note;
}

function show(id) {
  selected = id;
  const r = records.get(id);
  document.querySelectorAll("#requests tr").forEach(tr =>
    tr.classList.toggle("selected", tr.getAttribute("data-request") === String(id)));
  document.getElementById("detail-empty").hidden = !!r;
  document.getElementById("detail-body").hidden = !r;
  if (!r) return;
  document.getElementById("detail-title").textContent = r.method + " " + r.url;
  document.getElementById("req-headers").textContent = r.request.line + "\n" + headersText(r.request);
  document.getElementById("req-body").textContent = bodyText(r.request);
  document.getElementById("resp-headers").textContent =
    r.response ? r.response.line + "\n" + headersText(r.response) : "(no response yet)";
  document.getElementById("resp-body").textContent = bodyText(r.response);
  document.getElementById("replay-status").textContent = r.replay_of ? "a replay of #" + r.replay_of : "";
}

function renderRequests(list) {
  const body = document.getElementById("requests");
  body.replaceChildren();
  records = new Map(list.map(r => [r.id, r]));
  for (const r of list) {
    const status = r.status || "-";
    const tr = el("tr", { class: "clickable", "data-request": r.id },
      el("td", {}, new Date(r.time * 1000).toLocaleTimeString()), el("td", {}, r.tunnel),
      el("td", { class: "method" }, r.method), el("td", { class: "path" }, r.path + (r.replay_of ? "  (replay)" : "")),
      el("td", { class: "status s" + String(status)[0] }, status),
      el("td", { class: "num" }, r.duration == null ? "-" : (r.duration * 1000).toFixed(1) + " ms"),
      el("td", { class: "num" }, r.response ? size(r.response.body.size) : "-"));
    tr.onclick = () => show(r.id);
    body.append(tr);
  }
  document.getElementById("requests-empty").hidden = list.length > 0;
  if (selected !== null) show(selected);
}

function renderTunnels(list) {
  const body = document.getElementById("tunnels");
  body.replaceChildren();
  for (const t of list) {
    body.append(el("tr", { "data-tunnel": t.name },
      el("td", {}, t.name), el("td", {}, el("span", { class: "kind " + t.kind }, t.kind)),
      el("td", { class: "public" }, t.url), el("td", {}, t.local),
      el("td", { class: "num" }, t.connections_open), el("td", { class: "num" }, t.connections_total),
      el("td", { class: "num" }, size(t.bytes_in)), el("td", { class: "num" }, size(t.bytes_out))));
  }
  document.getElementById("tunnels-empty").hidden = list.length > 0;
}

async function poll() {
  const status = document.getElementById("status");
  try {
    const [tunnels, requests] = await Promise.all([api("GET", "/api/tunnels"), api("GET", "/api/requests?limit=100")]);
    renderTunnels(tunnels.tunnels);
    renderRequests(requests.requests);
    document.getElementById("meta").textContent = tunnels.tunnels.length + " tunnels · " +
      requests.requests.length + " requests kept";
    status.textContent = "updated " + new Date().toLocaleTimeString();
    status.className = "status";
    document.body.setAttribute("data-updated", String(Date.now()));
  } catch (e) {
    status.textContent = "cannot reach the client: " + e.message;
    status.className = "status bad";
  }
}

document.getElementById("replay").onclick = async () => {
  const out = document.getElementById("replay-status");
  out.textContent = "replaying...";
  try {
    const r = await api("POST", "/api/requests/" + selected + "/replay", {});
    out.textContent = "replayed: " + r.status + " in " + (r.duration * 1000).toFixed(1) + " ms (#" + r.id + ")";
    await poll();
  } catch (e) { out.textContent = "replay failed: " + e.message; }
};
document.getElementById("clear").onclick = async () => {
  await api("DELETE", "/api/requests");
  selected = null;
  poll();
};

const wanted = new URLSearchParams(location.search).get("request");
if (wanted) selected = Number(wanted);
poll();
setInterval(poll, POLL_MS);
