// Callwright admin: the audio side of a test call, on the audio thread (AudioWorklet).
// "cw-capture": the microphone, resampled to the call's rate (16000 or 8000 Hz), posted as
//   20 ms frames of PCM16 LE (ArrayBuffer) to the page.
// "cw-player": the assistant's frames (PCM16 LE at the call's rate) played at the context's rate.
"use strict";

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.rate = options.processorOptions.rate;
    this.step = sampleRate / this.rate;          // input samples per output sample
    this.frame = new Int16Array(this.rate / 50);  // 20 ms
    this.filled = 0;
    this.pos = 0;        // position in the input of the next output sample (fractional)
    this.acc = 0;        // sum of input samples since the last output sample (box filter)
    this.count = 0;
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    for (let i = 0; i < input.length; i++) {
      this.acc += input[i];
      this.count += 1;
      this.pos += 1;
      if (this.pos >= this.step) {
        this.pos -= this.step;
        const v = Math.max(-1, Math.min(1, this.acc / this.count));
        this.acc = 0;
        this.count = 0;
        this.frame[this.filled++] = v < 0 ? v * 0x8000 : v * 0x7fff;
        if (this.filled === this.frame.length) {
          this.port.postMessage(this.frame.buffer.slice(0));
          this.filled = 0;
        }
      }
    }
    return true;
  }
}

class PlayerProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.step = options.processorOptions.rate / sampleRate;  // call samples per output sample
    this.queue = [];
    this.current = null;
    this.index = 0;      // fractional position in this.current
    this.played = 0;     // call-rate samples played (reported to the page)
    this.port.onmessage = (event) => {
      if (event.data === "flush") { this.queue = []; this.current = null; return; }
      this.queue.push(new Int16Array(event.data));
    };
  }

  next() {
    this.current = this.queue.length ? this.queue.shift() : null;
    this.index = 0;
    return this.current;
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    let voiced = false;
    for (let i = 0; i < out.length; i++) {
      if ((!this.current || this.index >= this.current.length) && !this.next()) {
        out[i] = 0;
        continue;
      }
      const at = Math.floor(this.index);
      const a = this.current[at];
      const b = at + 1 < this.current.length ? this.current[at + 1] : a;
      const frac = this.index - at;
      out[i] = (a + (b - a) * frac) / 32768;
      if (a !== 0) voiced = true;
      this.index += this.step;
    }
    if (voiced) {
      this.played += Math.round(out.length * this.step);
      this.quanta = (this.quanta || 0) + 1;
      if (this.quanta % 8 === 0) this.port.postMessage(this.played);
    }
    return true;
  }
}

registerProcessor("cw-capture", CaptureProcessor);
registerProcessor("cw-player", PlayerProcessor);
