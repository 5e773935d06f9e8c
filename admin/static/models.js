// Callwright admin: the progress of speech model downloads on /models.
"use strict";

(() => {
  const rows = [...document.querySelectorAll("tr[data-model][data-state=running]")];
  if (!rows.length) return;
  const poll = () => {
    Promise.all(rows.map((row) =>
      fetch(`/api/v1/models/download?name=${encodeURIComponent(row.dataset.model)}`,
        { credentials: "same-origin" })
        .then((response) => response.json())
        .then((state) => {
          const cell = row.querySelector(".model-state");
          if (state.state !== "running") { window.location.reload(); return; }
          const bar = cell.querySelector("progress");
          if (bar && state.total) bar.value = state.bytes;
          cell.lastChild.textContent = ` ${(state.bytes / 1e6).toFixed(1)} MB`;
        })))
      .catch(() => {})
      .finally(() => window.setTimeout(poll, 1000));
  };
  window.setTimeout(poll, 1000);
})();
