// Callwright admin: the "Try it" panel of an assistant's page (a test call from the browser).
// The microphone goes through the "cw-capture" AudioWorklet as 20 ms PCM16 frames over a
// WebSocket to the admin; the assistant's frames come back and play through "cw-player"; the
// live transcript is built from the admin's "turn" messages (see admin/try_call_protocol.py).
// Nothing is fetched from outside the admin.
"use strict";

(() => {
  const panel = document.getElementById("try-it");
  if (!panel || !panel.dataset.ws) return;
  const startButton = document.getElementById("try-start");
  const stopButton = document.getElementById("try-stop");
  const status = document.getElementById("try-status");
  const transcript = document.getElementById("try-transcript");
  const typeForm = document.getElementById("try-type");
  const typeText = document.getElementById("try-text");
  const rateSelect = document.getElementById("try-rate");
  const LATENCY_NAMES = {
    stt_ms: "recognition", dialog_ms: "reply", tts_ms: "voice", first_frame_ms: "heard after",
  };
  // Read by tests and by whoever debugs a call in the console.
  const state = window.cwTryIt = {
    receivedBytes: 0, playedSamples: 0, sentFrames: 0, microphone: null, sound: null,
    callUid: null, ended: null, lastError: null,
  };
  // How long the page's audio may take to start before the call goes on without sound (a
  // browser with no sound output never starts it: Firefox on a machine without a sound card).
  const SOUND_WAIT_MS = 3000;
  let ws = null;
  let audio = null;
  let stream = null;

  function setStatus(text) { status.textContent = text; }

  function addLine(message) {
    const li = document.createElement("li");
    li.className = message.speaker;
    li.setAttribute("data-speaker", message.speaker);
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = message.speaker === "caller" ? "You" : "Assistant";
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = (message.text || "(nothing recognised)") +
      (message.interrupted ? " (interrupted)" : "");
    li.append(who, text);
    const latencies = Object.entries(message.latencies || {});
    if (latencies.length) {
      const row = document.createElement("div");
      row.className = "latency";
      for (const [name, ms] of latencies) {
        const item = document.createElement("span");
        item.setAttribute("data-latency", name);
        item.textContent = `${LATENCY_NAMES[name] || name} ${ms} ms`;
        row.append(item);
      }
      li.append(row);
    }
    transcript.append(li);
    li.scrollIntoView({ block: "nearest" });
  }

  function addNote(text) {
    const li = document.createElement("li");
    li.className = "event error";
    li.setAttribute("role", "alert");
    li.textContent = text;
    transcript.append(li);
  }

  function finish() {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    if (audio) audio.context.close().catch(() => {});
    stream = null;
    audio = null;
    ws = null;
    startButton.disabled = false;
    stopButton.hidden = true;
    typeForm.hidden = true;
  }

  function onMessage(event) {
    if (typeof event.data !== "string") {
      state.receivedBytes += event.data.byteLength;
      if (audio) audio.player.port.postMessage(event.data, [event.data]);
      return;
    }
    const message = JSON.parse(event.data);
    if (message.type === "started") {
      state.callUid = message.call_uid;
      panel.setAttribute("data-call-uid", message.call_uid);
    } else if (message.type === "turn") {
      if (message.speaker === "caller" && audio) audio.player.port.postMessage("flush");
      addLine(message);
    } else if (message.type === "error") {
      state.lastError = message.message;
      addNote(message.message);
    } else if (message.type === "ended") {
      state.ended = message;
      setStatus(`Call ended (${message.status}: ${message.reason}).`);
    }
  }

  async function openAudio(rate) {
    const context = new AudioContext();
    await context.audioWorklet.addModule(panel.dataset.worklet);
    const player = new AudioWorkletNode(context, "cw-player", {
      processorOptions: { rate }, outputChannelCount: [1],
    });
    player.connect(context.destination);
    player.port.onmessage = (event) => { state.playedSamples = event.data; };
    await Promise.race([
      context.resume(), new Promise((resolve) => { setTimeout(resolve, SOUND_WAIT_MS); }),
    ]);
    state.sound = context.state === "running";
    context.onstatechange = () => { state.sound = context.state === "running"; };
    return { context, player, capture: null };
  }

  function startCapture(rate) {
    const capture = new AudioWorkletNode(audio.context, "cw-capture", {
      processorOptions: { rate }, numberOfOutputs: 1, outputChannelCount: [1],
    });
    const mute = audio.context.createGain();
    mute.gain.value = 0;  // the worklet is pulled by the graph; the microphone is not played
    audio.context.createMediaStreamSource(stream).connect(capture);
    capture.connect(mute).connect(audio.context.destination);
    capture.port.onmessage = (event) => {
      if (ws && ws.readyState === WebSocket.OPEN) {
        ws.send(event.data);
        state.sentFrames += 1;
      }
    };
    audio.capture = capture;
  }

  async function begin() {
    startButton.disabled = true;
    transcript.textContent = "";
    Object.assign(state, {
      receivedBytes: 0, playedSamples: 0, sentFrames: 0, sound: null, ended: null,
      lastError: null,
    });
    const rate = Number(rateSelect.value);
    setStatus("Starting…");
    if (!window.isSecureContext) {
      setStatus("Test calls need the admin over HTTPS (or on localhost): browsers give the " +
        "microphone and audio worklets to secure pages only.");
      finish();
      return;
    }
    try {
      audio = await openAudio(rate);
    } catch (error) {
      setStatus(`This browser cannot play the call's audio: ${error.message}`);
      finish();
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
      state.microphone = true;
    } catch (error) {
      stream = null;
      state.microphone = false;
    }
    const url = new URL(panel.dataset.ws, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("rate", String(rate));
    url.searchParams.set("csrf", panel.dataset.csrf);
    const socket = new WebSocket(url);
    socket.binaryType = "arraybuffer";
    ws = socket;
    socket.onopen = () => {
      if (stream) startCapture(rate);
      stopButton.hidden = false;
      typeForm.hidden = false;
      if (!state.sound) {
        setStatus("Connected, but this browser plays no sound here (no sound output?): type " +
          "what the caller says below; the transcript shows the replies.");
      } else {
        setStatus(stream ? "Connected: speak, or type below." :
          "Connected without a microphone: type what the caller says below.");
      }
    };
    socket.onmessage = onMessage;
    socket.onclose = (event) => {
      if (ws === socket) finish();
      if (!state.ended) {
        setStatus(state.lastError ? `Not started: ${state.lastError}` :
          `The connection closed (code ${event.code}). Reload the page and try again.`);
      }
    };
  }

  startButton.addEventListener("click", () => { begin(); });
  stopButton.addEventListener("click", () => {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "hangup" }));
  });
  typeForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = typeText.value.trim();
    if (!text || !ws || ws.readyState !== WebSocket.OPEN) return;
    ws.send(JSON.stringify({ type: "say", text }));
    typeText.value = "";
  });
})();
