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
