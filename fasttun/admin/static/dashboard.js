// fasttun's server dashboard: polls the admin API (docs/api.md) once a second.
// Everything shown comes from the API; text is set with textContent only
// (tunnel targets and versions are chosen by clients).
"use strict";
// el(), size() and api() come from common.js.

const POLL_MS = 1000;
const HISTORY = 60; // samples of throughput kept per tunnel
const history = new Map(); // tunnel id -> [{t, bin, bout}]
let total = null; // previous {t, bin, bout} over every tunnel



function rate(n) { return size(n) + "/s"; }

function since(epoch) {
  const s = Math.max(0, Date.now() / 1000 - epoch);
  if (s < 60) return Math.floor(s) + " s ago";
  if (s < 3600) return Math.floor(s / 60) + " min ago";
  if (s < 86400) return Math.floor(s / 3600) + " h ago";
  return Math.floor(s / 86400) + " d ago";
}


function spark(samples) {
  const W = 120;
  const c = el("canvas", { class: "spark", width: W, height: 32 });
  const g = c.getContext("2d");
  const rates = [];
  for (let i = 1; i < samples.length; i++) {
    const dt = samples[i].t - samples[i - 1].t || 1;
    rates.push([(samples[i].bin - samples[i - 1].bin) / dt, (samples[i].bout - samples[i - 1].bout) / dt]);
  }
  const max = Math.max(1, ...rates.map(r => Math.max(r[0], r[1])));
  g.strokeStyle = "#e2e5eb";
  g.strokeRect(0.5, 0.5, W - 1, 31);
  [[0, "#2563eb"], [1, "#0f9d58"]].forEach(([k, color]) => {
    g.beginPath();
    g.strokeStyle = color;
    rates.forEach((r, i) => {
      const x = W - (rates.length - i) * (W / (HISTORY - 1));
      const y = 30 - (r[k] / max) * 28;
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
  });
  const last = rates.length ? rates[rates.length - 1] : [0, 0];
  c.title = "in " + rate(last[0]) + ", out " + rate(last[1]) + " (peak " + rate(max) + ")";
  c.setAttribute("data-rate-in", Math.round(last[0]));
  c.setAttribute("data-rate-out", Math.round(last[1]));
  return c;
}

function requests(t) {
  if (!t.requests) return "";
  const span = el("span");
  for (const [cls, n] of Object.entries(t.requests)) {
    if (!n) continue;
    span.append(el("span", { class: "s" + cls[0], title: n + " answers " + cls }, cls + " " + n), " ");
  }
  return span.childNodes.length ? span : "none yet";
}

async function act(button, method, path, confirmText) {
  if (!confirm(confirmText)) return;
  button.disabled = true;
  try { await api(method, path); } catch (e) { alert(e.message); }
  poll();
}

function renderTunnels(tunnels, now) {
  const body = document.getElementById("tunnels");
  body.replaceChildren();
  const alive = new Set();
  for (const t of tunnels) {
    alive.add(t.id);
    const h = history.get(t.id) || [];
    h.push({ t: now, bin: t.bytes_in, bout: t.bytes_out });
    if (h.length > HISTORY) h.shift();
    history.set(t.id, h);
    const close = el("button", { title: "close this tunnel; its client is told" }, "Close");
    close.onclick = () => act(close, "DELETE", "/api/v1/tunnels/" + t.id, "Close tunnel " + t.public + "?");
    const pub = t.urls && t.urls.length ? t.urls.join(" ") : t.public;
    body.append(el("tr", { "data-tunnel": t.id },
      el("td", {}, t.id), el("td", {}, el("span", { class: "kind " + t.kind }, t.kind)),
      el("td", { class: "public" }, pub), el("td", {}, t.local), el("td", {}, t.client),
      el("td", { class: "num open" }, t.connections_open), el("td", { class: "num total" }, t.connections_total),
      el("td", { class: "num bytes-in", title: t.bytes_in + " bytes" }, size(t.bytes_in)),
      el("td", { class: "num bytes-out", title: t.bytes_out + " bytes" }, size(t.bytes_out)),
      el("td", { class: "reqs" }, requests(t)), el("td", {}, spark(h)), el("td", {}, close)));
  }
  for (const id of [...history.keys()]) if (!alive.has(id)) history.delete(id);
  document.getElementById("tunnels-empty").hidden = tunnels.length > 0;
}

function renderClients(clients) {
  const body = document.getElementById("clients");
  body.replaceChildren();
  for (const c of clients) {
    const drop = el("button", { title: "disconnect this client; it may reconnect" }, "Disconnect");
    drop.onclick = () => act(drop, "DELETE", "/api/v1/clients/" + c.id, "Disconnect client " + c.address + "?");
    body.append(el("tr", { "data-client": c.id },
      el("td", {}, c.id), el("td", { class: "address" }, c.address), el("td", {}, c.version || "-"),
      el("td", { title: new Date(c.connected_since * 1000).toISOString() }, since(c.connected_since)),
      el("td", {}, c.tunnels.join(", ") || "-"), el("td", { class: "num" }, c.streams),
      el("td", { class: "num" }, size(c.bytes_from_client)), el("td", { class: "num" }, size(c.bytes_to_client)),
      el("td", {}, drop)));
  }
  document.getElementById("clients-empty").hidden = clients.length > 0;
}

async function poll() {
  const status = document.getElementById("status");
  try {
    const [server, clients, tunnels] = await Promise.all([
      api("GET", "/api/v1/server"), api("GET", "/api/v1/clients"), api("GET", "/api/v1/tunnels")]);
    const now = Date.now() / 1000;
    const ports = server.ports[0] + "-" + server.ports[1];
    const http = [server.http_port && "HTTP :" + server.http_port, server.https_port && "HTTPS :" + server.https_port]
      .filter(Boolean).join(", ");
    document.getElementById("meta").textContent = "v" + server.version + " · control " + server.control +
      " · ports " + ports + (http ? " · " + http : "") + " · up " + Math.floor(server.uptime) + " s";
    document.getElementById("n-clients").textContent = clients.clients.length;
    document.getElementById("n-tunnels").textContent = tunnels.tunnels.length;
    document.getElementById("n-open").textContent =
      tunnels.tunnels.reduce((a, t) => a + t.connections_open, 0);
    const sum = { t: now, bin: 0, bout: 0 };
    for (const t of tunnels.tunnels) { sum.bin += t.bytes_in; sum.bout += t.bytes_out; }
    if (total) {
      const dt = now - total.t || 1;
      document.getElementById("rate-in").textContent = rate(Math.max(0, (sum.bin - total.bin) / dt));
      document.getElementById("rate-out").textContent = rate(Math.max(0, (sum.bout - total.bout) / dt));
    }
    total = sum;
    renderTunnels(tunnels.tunnels, now);
    renderClients(clients.clients);
    status.textContent = "updated " + new Date().toLocaleTimeString();
    status.className = "status";
    document.body.setAttribute("data-updated", String(now));
  } catch (e) {
    status.textContent = "cannot reach the server: " + e.message;
    status.className = "status bad";
  }
}

poll();
setInterval(poll, POLL_MS);
