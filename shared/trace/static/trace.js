// The live trace page: polls /trace/connections and draws one sequence diagram per connection.
// The key arrives once in the URL (?key=…); it moves to sessionStorage and travels as a header,
// so it does not stay in the address bar, the history or a Referer.
"use strict";

const params = new URLSearchParams(location.search);
if (params.has("key")) {
  sessionStorage.setItem("trace-key", params.get("key"));
  params.delete("key");
  history.replaceState(null, "", location.pathname + (params.toString() ? "?" + params : ""));
}
const key = sessionStorage.getItem("trace-key") || "";
const open = new Set();  // ids of the steps a person expanded, kept across redraws
let lastDigest = "";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "class") node.className = value; else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function clock(seconds) {
  return new Date(seconds * 1000).toISOString().slice(11, 23);
}

function summaryText(event) {
  const p = event.params || {};
  let what = p.jsonrpc_method ? ` ${p.jsonrpc_method}${p.tool ? " " + p.tool : ""}` : "";
  if (p.grant_type) what += ` grant_type=${p.grant_type}`;
  return `${event.method} ${event.path}${what}`;
}

function drawStep(event) {
  const failed = event.status >= 400 || Boolean(event.www_authenticate) || Boolean(event.error);
  const details = el("details", { class: `step to-${event.server} ${failed ? "fail" : "ok"}`, "data-id": event.id });
  if (open.has(event.id)) details.open = true;
  details.addEventListener("toggle", () => (details.open ? open.add(event.id) : open.delete(event.id)));
  const outcome = `${event.status}${event.error ? " " + event.error : ""}`;
  const label = el("span", { class: "label" },
    el("span", { class: "text" }, `${clock(event.time)} · ${event.label} · ${summaryText(event)}`),
    el("span", { class: "status" }, `→ ${outcome}`));
  details.append(el("summary", {}, el("div", { class: "arrow" }, label, el("div", { class: "line" }))));
  const shown = { ...event };
  for (const name of ["label", "rfc", "client"]) delete shown[name];
  details.append(el("div", { class: "details" },
    el("div", {}, el("strong", {}, event.label), event.rfc ? ` — ${event.rfc}` : ""),
    event.error_description ? el("div", {}, `error_description: ${event.error_description}`) : "",
    el("pre", {}, JSON.stringify(shown, null, 2))));
  return details;
}

function drawConnection(connection) {
  const name = connection.client_name ? `${connection.client_name} — ` : "";
  const section = el("section", { class: "connection" },
    el("h2", {}, `${name}${connection.client}`),
    el("div", { class: "muted" }, `${connection.events.length} steps, ${clock(connection.started)} – ${clock(connection.ended)} UTC`),
    el("div", { class: "lanes" }, el("span", {}, "Client"), el("span", {}, "Authorization server"), el("span", {}, "Resource server")));
  for (const event of connection.events) section.append(drawStep(event));
  const box = el("div", { class: "diagnoses" });
  if (connection.diagnoses.length === 0) {
    box.append(el("div", { class: "healthy" }, "No problem found in this connection."));
  }
  for (const diagnosis of connection.diagnoses) {
    box.append(el("div", { class: "diagnosis", "data-key": diagnosis.key },
      el("h3", {}, diagnosis.title),
      el("p", {}, diagnosis.detail),
      el("p", {}, el("strong", {}, "Fix: "), diagnosis.fix),
      el("p", { class: "muted" }, [diagnosis.rfc, diagnosis.doctor ? `doctor: ${diagnosis.doctor}` : ""].filter(Boolean).join(" · "))));
  }
  section.append(box);
  return section;
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/trace/connections", { headers: { Authorization: `Bearer ${key}` } });
    if (!response.ok) {
      status.textContent = `${response.status}: ${(await response.json()).error_description}`;
      return;
    }
    const data = await response.json();
    const total = data.connections.reduce((sum, c) => sum + c.events.length, 0);
    status.textContent = `${data.connections.length} connection(s), ${total} event(s) · live, updated ${clock(data.now)} UTC`;
    const digest = JSON.stringify(data.connections.map((c) => [c.client, c.events.length, c.diagnoses.map((d) => d.key)]));
    if (digest === lastDigest) return;
    lastDigest = digest;
    const main = document.getElementById("connections");
    main.replaceChildren(...data.connections.map(drawConnection));
    document.body.dataset.events = String(total);
  } catch (error) {
    status.textContent = `cannot reach the trace: ${error}`;
  }
}

refresh();
setInterval(refresh, 1000);
