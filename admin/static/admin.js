// Callwright admin: small progressive enhancements. Every page works without this file.
"use strict";

// Ask before destructive buttons (data-confirm on the button).
document.addEventListener("submit", (event) => {
  const button = event.submitter || event.target.querySelector("[data-confirm]");
  const message = button && button.getAttribute("data-confirm");
  if (message && !window.confirm(message)) event.preventDefault();
});

// Flow editor: clicking a problem selects the node it names in the JSON text.
document.addEventListener("click", (event) => {
  const link = event.target.closest(".flow-errors a[data-node]");
  if (!link) return;
  const editor = document.getElementById("flow");
  if (!editor) return;
  event.preventDefault();
  const node = link.getAttribute("data-node");
  const field = link.getAttribute("data-field");
  const source = editor.value;
  let start = node ? source.search(new RegExp('"id"\\s*:\\s*' + JSON.stringify(node).replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))) : -1;
  if (start >= 0 && field) {
    const at = source.indexOf('"' + field + '"', start);
    if (at >= 0) start = at;
  }
  editor.focus();
  if (start >= 0) {
    const end = source.indexOf("\n", start);
    editor.setSelectionRange(start, end < 0 ? source.length : end);
    const line = source.slice(0, start).split("\n").length;
    editor.scrollTop = Math.max(0, (line - 3) * parseFloat(getComputedStyle(editor).lineHeight || "18"));
  }
});

// Dashboard: refresh the calls in progress and the counters every 5 seconds.
function renderLive(container, data) {
  const calls = data.in_progress || [];
  if (!calls.length) {
    container.innerHTML = "";
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "No calls in progress.";
    container.appendChild(p);
  } else {
    const wrap = document.createElement("div");
    wrap.className = "table-wrap";
    const table = document.createElement("table");
    const head = table.createTHead().insertRow();
    for (const title of ["Started (UTC)", "Caller", "Dialed", "Assistant", "Status", "Length", "Rec.", "Node", "PBX"]) {
      const th = document.createElement("th");
      th.textContent = title;
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const call of calls) {
      const row = body.insertRow();
      const link = document.createElement("a");
      link.href = "/calls/" + encodeURIComponent(call.uid);
      link.textContent = (call.started_at || "").slice(0, 19).replace("T", " ");
      row.insertCell().appendChild(link);
      row.insertCell().textContent = call.caller_name || call.caller_number || "unknown";
      row.insertCell().textContent = call.dialed || "";
      row.insertCell().textContent = call.assistant_name || "";
      const badge = document.createElement("span");
      badge.className = "badge status-" + call.status;
      badge.textContent = call.status.replace("_", " ");
      row.insertCell().appendChild(badge);
      row.insertCell().textContent = "";
      row.insertCell().textContent = call.has_recording ? "●" : "";
      row.insertCell().textContent = call.node_id || "";
      row.insertCell().textContent = call.pbx || "";
    }
    wrap.appendChild(table);
    container.replaceChildren(wrap);
  }
  const counts = { in_progress: calls.length, total: data.today.total };
  for (const [status, n] of Object.entries(data.today.by_status || {})) counts[status] = n;
  for (const el of document.querySelectorAll("[data-count]")) {
    const key = el.getAttribute("data-count");
    el.textContent = String(counts[key] || 0);
  }
}

const live = document.getElementById("live-calls");
if (live) {
  const url = live.getAttribute("data-poll");
  const poll = async () => {
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (response.ok) renderLive(live, await response.json());
    } catch (err) {
      // offline for a moment: try again at the next tick
    }
  };
  setInterval(poll, 5000);
}
