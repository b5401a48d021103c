// Live vitals: the latest value of each measure with its unit and time, and a trend chart.
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
    if (reading.kind === "spo2" || reading.kind === "pulse_rate") this.plot(reading);
  }

  plot(reading) {
    const s = this.series;
    const t = Math.round(reading.time);
    if (s.t.length === 0 || s.t[s.t.length - 1] !== t) {
      s.t.push(t); s.spo2.push(null); s.pulse.push(null);
    }
    const i = s.t.length - 1;
    if (reading.kind === "spo2") s.spo2[i] = reading.value;
    else s.pulse[i] = reading.value;
    while (s.t.length && s.t[0] < t - WINDOW_S) { s.t.shift(); s.spo2.shift(); s.pulse.shift(); }
    if (!this.pending) {
      this.pending = true;
      requestAnimationFrame(() => { this.pending = false; this.chart.setData([s.t, s.spo2, s.pulse]); });
    }
  }
}
