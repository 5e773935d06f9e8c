// Callwright admin: the assistant form offers only the chosen voice engine's voices.
"use strict";

(() => {
  for (const engine of document.querySelectorAll("select[name=tts_engine]")) {
    const voices = engine.form && engine.form.querySelector("select[name=tts_voice]");
    if (!voices) continue;
    const show = () => {
      for (const group of voices.querySelectorAll("optgroup[data-engine]")) {
        const mine = group.dataset.engine === engine.value;
        group.hidden = !mine;
        group.disabled = !mine;
      }
      const chosen = voices.selectedOptions[0];
      if (chosen && chosen.parentElement.disabled) voices.value = "";
    };
    engine.addEventListener("change", show);
    show();
  }
})();

// The LLM server's models, asked by the page (the page itself never waits for that server).
(() => {
  for (const box of document.querySelectorAll("[data-llm-models]")) {
    const list = box.querySelector("datalist");
    const hint = box.closest("label") && box.closest("label").querySelector("small.hint");
    fetch(box.dataset.llmModels, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((data) => {
        const models = data.models || [];
        list.replaceChildren(...models.map((name) => {
          const option = document.createElement("option");
          option.value = name;
          return option;
        }));
        if (hint) {
          hint.textContent = models.length
            ? `${models.length} model(s) on the LLM server: start typing, or pick one.`
            : "The LLM server did not list its models: type the model's name.";
        }
        box.dataset.llmModelsState = "done";
      })
      .catch((why) => {
        if (hint) hint.textContent = `The LLM server's models could not be read (${why}): type the model's name.`;
        box.dataset.llmModelsState = "failed";
      });
  }
})();
