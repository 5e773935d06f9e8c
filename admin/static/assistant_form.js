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
