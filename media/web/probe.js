// Benchmark probe, injected into the specialist page before it loads (Playwright init script).
// It reads the capture time painted into every decoded frame (media/timecode.py layout), notes
// when each vitals message arrives, keeps the station's link status messages (its rung), and
// samples the peer connection's stats once a second.
(() => {
  const CELLS = 40, ROWS = 2, PER_ROW = CELLS / ROWS, HEIGHT_FRACTION = 12;
  const probe = { frames: [], vitals: [], stats: [], link: [], started: Date.now() };
  window.__probe = probe;

  function readCode(ctx, width, height) {
    const cellW = width / PER_ROW, cellH = Math.max(1, Math.floor(height / HEIGHT_FRACTION));
    const img = ctx.getImageData(0, 0, width, cellH * ROWS).data;
    const bits = [];
    for (let i = 0; i < CELLS; i++) {
      const row = Math.floor(i / PER_ROW), col = i % PER_ROW;
      const y0 = row * cellH + Math.floor(cellH / 4), y1 = row * cellH + Math.max(Math.floor(cellH / 4) + 1, Math.floor(3 * cellH / 4));
      const x0 = Math.round(col * cellW + cellW / 4), x1 = Math.max(x0 + 1, Math.round(col * cellW + 3 * cellW / 4));
      let sum = 0, n = 0;
      for (let y = y0; y < y1; y += 1) for (let x = x0; x < x1; x += 1) {
        const p = (y * width + x) * 4;
        sum += (img[p] + img[p + 1] + img[p + 2]) / 3; n++;
      }
      bits.push(sum / n > 127 ? 1 : 0);
    }
    let value = 0;
    for (let i = 0; i < 32; i++) value = value * 2 + bits[i];
    let checksum = 0;
    for (let i = 32; i < 40; i++) checksum = checksum * 2 + bits[i];
    const sumBytes = ((value >>> 24) & 255) + ((value >>> 16) & 255) + ((value >>> 8) & 255) + (value & 255);
    return (sumBytes & 255) === checksum ? value : null;
  }

  function watchVideo(video) {
    const canvas = document.createElement("canvas");
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    const onFrame = (now, meta) => {
      const width = meta.width, height = meta.height;
      if (width && height) {
        canvas.width = width; canvas.height = height;
        ctx.drawImage(video, 0, 0, width, height);
        const capture = readCode(ctx, width, height);
        const recv = Date.now();
        const delay = capture === null ? null : ((recv % 4294967296) - capture + 4294967296) % 4294967296;
        probe.frames.push([recv, width, height, delay]);
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  const Native = window.RTCPeerConnection;
  class ProbedPeerConnection extends Native {
    constructor(...args) {
      super(...args);
      probe.pc = this;
      this.addEventListener("datachannel", ({ channel }) => {
        if (channel.label !== "vitals" && channel.label !== "control") return;
        channel.addEventListener("message", (event) => {
          const message = JSON.parse(event.data);
          if (message.type === "readings") probe.vitals.push([Date.now(), Math.round(message.sent * 1000)]);
          if (message.type === "link") probe.link.push([Date.now(), message]);
        });
      });
    }
  }
  window.RTCPeerConnection = ProbedPeerConnection;

  setInterval(async () => {
    const video = document.getElementById("video");
    if (video && !video.__probed && video.srcObject) { video.__probed = true; watchVideo(video); }
    if (!probe.pc) return;
    const sample = { t: Date.now(), state: probe.pc.connectionState };
    const stats = await probe.pc.getStats();
    for (const r of stats.values()) {
      if (r.type === "inbound-rtp") {
        sample[r.kind] = { bytes: r.bytesReceived, frames: r.framesDecoded, lost: r.packetsLost,
                           width: r.frameWidth, height: r.frameHeight, fps: r.framesPerSecond, nacks: r.nackCount,
                           fec: r.fecPacketsReceived, fec_discarded: r.fecPacketsDiscarded,
                           jitter_buffer_s: r.jitterBufferDelay, jitter_buffer_emitted: r.jitterBufferEmittedCount };
      }
      if (r.type === "candidate-pair" && r.nominated) sample.rtt = r.currentRoundTripTime;
    }
    const pill = document.getElementById("consult-state");
    sample.page_state = pill ? pill.textContent : null;
    probe.stats.push(sample);
  }, 1000);
})();
