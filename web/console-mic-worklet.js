// The console microphone's tap (console-mic.js): an AudioWorklet processor that hands
// the microphone's samples to the page in blocks of about 2,000. A file of its own,
// served from the page's origin, because the page's Content-Security-Policy (script-src
// 'self') refuses a worklet made from a blob: URL.
class Tap extends AudioWorkletProcessor {
  constructor() {
    super();
    this.buffer = new Float32Array(2048);
    this.filled = 0;
  }

  process(inputs) {
    const channel = inputs[0] && inputs[0][0];
    if (channel) {
      this.buffer.set(channel, this.filled);
      this.filled += channel.length;
      if (this.filled + 128 > this.buffer.length) {
        this.port.postMessage(this.buffer.slice(0, this.filled));
        this.filled = 0;
      }
    }
    return true;
  }
}

registerProcessor("companion-mic-tap", Tap);
