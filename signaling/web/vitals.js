// Live vitals: the latest value of each measure with its unit and time, and a trend chart.
// Live values come from the station's `vitals` data channel; readings the station stored while
// its link was down arrive later from the server (`readings` on the WebSocket) and are merged
// into the chart by time. The tiles only ever show the newest value of each measure.
const WINDOW_S = 120;
const fmt = (v, digits = 0) => (v === null || v === undefined ? "--" : Number(v).toFixed(digits));
const clock = (t) => new Date(t * 1000).toLocaleTimeString();

export class VitalsView {
  constructor(chartEl) {
    this.latest = {};
    this.series = { t: [], spo2: [], pulse: [] };
    chartEl.replaceChildren();
    this.chart = new uPlot({
      width: Math.max(240, chartEl.clientWidth || 320), height: 160,
      scales: { x: { time: true } },
      series: [{}, { label: "SpO₂ %", stroke: "#1565c0" }, { label: "Pulse /min", stroke: "#c62828" }],
      axes: [{}, {}],
    }, [[], [], []], chartEl);
    this.pending = false;
  }

  add(reading) {
    if (reading.kind === "spo2" || reading.kind === "pulse_rate") this.plot(reading);
    // A stored record (a cuff's memory, a device's backlog) never hides a newer value of its kind.
    const previous = this.latest[reading.kind];
    if (previous && reading.time < previous.time) return;
    this.latest[reading.kind] = reading;
    const set = (id, text, time) => {
      document.getElementById(id).textContent = text;
      document.getElementById(id + "-time").textContent = time ? "at " + clock(time) : "";
    };
    const absent = (r) => (r.value === null ? `(${r.absent})` : null);
    if (reading.kind === "spo2") set("spo2", absent(reading) || fmt(reading.value), reading.time);
    if (reading.kind === "pulse_rate" || reading.kind === "heart_rate") set("pulse", absent(reading) || fmt(reading.value), reading.time);
    if (reading.kind === "systolic" || reading.kind === "diastolic") {
      const s = this.latest.systolic, d = this.latest.diastolic;
      set("bp", `${fmt(s && s.value)}/${fmt(d && d.value)}`, reading.time);
    }
    if (reading.kind === "body_temperature") {
      set("temp", absent(reading) || reading.value.toFixed(1), reading.time);
      document.getElementById("temp-unit").textContent = reading.unit === "[degF]" ? "°F" : "°C";
    }
  }

  /** Readings the server received late (taken while the station's link was down). */
  merge(readings) {
    for (const reading of readings) this.add(reading);
  }

  plot(reading) {
    const s = this.series;
    const t = Math.round(reading.time);
    let i = s.t.length;
    while (i > 0 && s.t[i - 1] > t) i--; // from the end: a live value appends at once
    if (i > 0 && s.t[i - 1] === t) i--;
    else { s.t.splice(i, 0, t); s.spo2.splice(i, 0, null); s.pulse.splice(i, 0, null); }
    if (reading.kind === "spo2") s.spo2[i] = reading.value;
    else s.pulse[i] = reading.value;
    const newest = s.t[s.t.length - 1];
    while (s.t.length && s.t[0] < newest - WINDOW_S) { s.t.shift(); s.spo2.shift(); s.pulse.shift(); }
    if (!this.pending) {
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.chart.setData([s.t, s.spo2, s.pulse]); });
    }
  }
}
