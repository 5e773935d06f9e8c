// Callwright admin: the setup wizard's checklist, filled in as the checks answer.
"use strict";

(() => {
  const box = document.getElementById("setup-checklist");
  if (!box || !box.dataset.src) return;
  const render = (checks) => {
    const list = document.createElement("ol");
    list.className = "checklist";
    for (const check of checks) {
      const item = document.createElement("li");
      item.className = `check-${check.status === "FAIL" ? "fail" : check.status}`;
      item.setAttribute("data-check", check.id);
      const status = document.createElement("strong");
      status.textContent = check.status;
      item.append(status, ` ${check.title}: ${check.detail}`);
      if (check.fix) {
        const fix = document.createElement("small");
        fix.className = "hint";
        fix.textContent = `Fix: ${check.fix}`;
        item.append(document.createElement("br"), fix);
      }
      list.append(item);
    }
    box.replaceChildren(list);
  };
  const run = () => {
    fetch(box.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((data) => render(data.checks || []))
      .catch((why) => { box.textContent = `The checks could not run (${why}).`; });
  };
  run();
  const again = document.createElement("button");
  again.type = "button";
  again.textContent = "Check again";
  again.addEventListener("click", () => { box.textContent = "Checking…"; run(); });
  box.after(again);
})();

// The test call through the PBX, followed live: the steps it reached, the turns, the outcome.
(() => {
  const box = document.getElementById("pbx-call-progress");
  if (!box || !box.dataset.src) return;
  const STEPS = ["ringing", "answered", "ended"];
  const steps = box.querySelector("ol.progress");
  const hint = box.querySelector("p.hint");
  const transcript = box.querySelector("ol.transcript");
  const reach = (step, label) => {
    let item = steps.querySelector(`li[data-step="${step}"]`);
    if (!item) {
      item = document.createElement("li");
      item.dataset.step = step;
      steps.append(item);
    }
    item.textContent = label;
  };
  const render = (p) => {
    box.dataset.state = p.state;
    const upTo = STEPS.indexOf(p.state);
    for (const [i, step] of STEPS.entries()) {
      if (i > upTo) break;
      if (step === "answered" && p.state === "ended" && !p.answered) continue;
      const label = step.charAt(0).toUpperCase() + step.slice(1);
      reach(step, step === "ended" ? `${label}: ${p.status}${p.end_reason ? ` (${p.end_reason})` : ""}` : label);
    }
    hint.textContent = p.detail;
    transcript.replaceChildren(...p.turns.map((turn) => {
      const item = document.createElement("li");
      item.dataset.speaker = turn.speaker;
      item.textContent = turn.text;
      return item;
    }));
    if (p.call_uid && !box.querySelector("a.call-page")) {
      const link = document.createElement("a");
      link.className = "call-page";
      link.href = `/calls/${encodeURIComponent(p.call_uid)}`;
      link.textContent = "The call's page";
      box.append(link);
    }
  };
  const poll = () => {
    fetch(box.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((p) => {
        render(p);
        if (p.state !== "ended") setTimeout(poll, 1000);
      })
      .catch((why) => {
        hint.textContent = `The call's progress could not be read (${why}); trying again.`;
        setTimeout(poll, 3000);
      });
  };
  setTimeout(poll, 500);
})();
