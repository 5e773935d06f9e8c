// Callwright admin: the audio side of a test call, on the audio thread (AudioWorklet).
// "cw-capture": the microphone, low-passed and resampled to the call's rate (16000 or 8000 Hz),
//   posted as 20 ms frames of PCM16 LE (ArrayBuffer) to the page.
// "cw-player": the assistant's frames (PCM16 LE at the call's rate) played at the context's rate.
"use strict";

// Zero crossings of the capture's low-pass kernel on each side, and kernel values kept per input
// sample (linearly interpolated between).
const ZEROS = 8;
const TABLE_STEPS = 128;

// The microphone at the context's rate (44.1 or 48 kHz, say) to the call's, band-limited first:
// a windowed-sinc low-pass at 90 % of the call's Nyquist frequency, evaluated at each output
// sample's fractional position in the input, so that what the microphone hears above the call's
// band (sibilants, hiss) is removed instead of folding back into the band the recogniser hears.
class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.rate = options.processorOptions.rate;
    this.step = sampleRate / this.rate;          // input samples per output sample
    this.frame = new Int16Array(this.rate / 50);  // 20 ms
    this.filled = 0;
    const cutoff = Math.min(0.5, 0.45 * this.rate / sampleRate);  // cycles per input sample
    this.half = Math.ceil(ZEROS / (2 * cutoff));  // the kernel's half-width, in input samples
    this.table = new Float32Array(this.half * TABLE_STEPS + 2);
    for (let i = 0; i < this.table.length; i++) {
      const d = i / TABLE_STEPS;
      const x = Math.PI * 2 * cutoff * d;
      const sinc = d === 0 ? 1 : Math.sin(x) / x;
      const hann = d >= this.half ? 0 : 0.5 + 0.5 * Math.cos(Math.PI * d / this.half);
      this.table[i] = 2 * cutoff * sinc * hann;
    }
    this.input = new Float32Array(2 * this.half + 2048);  // the input the next outputs need
    this.first = 0;         // stream index of this.input[0]
    this.held = 0;          // samples in this.input
    this.pos = this.half;   // stream position (fractional) of the next output sample
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    if (this.held + input.length > this.input.length) {  // drop what no output needs any more
      const drop = Math.min(this.held, Math.floor(this.pos - this.half) - this.first);
      this.input.copyWithin(0, drop, this.held);
      this.held -= drop;
      this.first += drop;
    }
    this.input.set(input, this.held);
    this.held += input.length;
    const end = this.first + this.held;
    while (this.pos + this.half < end) {
      let sum = 0;
      for (let n = Math.ceil(this.pos - this.half); n <= Math.floor(this.pos + this.half); n++) {
        const at = Math.abs(this.pos - n) * TABLE_STEPS;
        const k = Math.floor(at);
        sum += this.input[n - this.first] *
          (this.table[k] + (this.table[k + 1] - this.table[k]) * (at - k));
      }
      this.pos += this.step;
      const v = Math.max(-1, Math.min(1, sum));
      this.frame[this.filled++] = v < 0 ? v * 0x8000 : v * 0x7fff;
      if (this.filled === this.frame.length) {
        this.port.postMessage(this.frame.buffer.slice(0));
        this.filled = 0;
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
