// The station page: what the station is doing, in the staff's language, refreshed every second.
import { LANGUAGES, WORDS, pickLanguage, translator } from "/static/i18n.js";

const $ = (id) => document.getElementById(id);
const state = { status: null, lang: null, t: null, checking: false };
window.farlinkStation = state; // for tests

function setLanguage(lang) {
  state.lang = lang;
  state.t = translator(lang);
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = state.t(el.dataset.t);
  for (const el of document.querySelectorAll("[data-t-placeholder]")) el.placeholder = state.t(el.dataset.tPlaceholder);
  for (const code of LANGUAGES) $(`lang-${code}`).setAttribute("aria-pressed", String(code === lang));
  document.title = state.t("title");
  if (state.status) render(state.status);
}

function ago(time) {
  const seconds = Math.max(0, Math.round(Date.now() / 1000 - time));
  return seconds < 120 ? state.t("seconds_ago", { n: seconds }) : state.t("minutes_ago", { n: Math.round(seconds / 60) });
}

function rate(kbps) {
  return kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mbit/s` : `${Math.round(kbps)} kbit/s`;
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function renderConsult(consult) {
  const t = state.t;
  let text = t("no_call");
  if (consult.state === "waiting") {
    text = consult.position ? t("waiting_position", { position: consult.position[0], of: consult.position[1] }) : t("waiting");
  } else if (consult.state === "live") {
    text = t("live");
  }
  $("consult-status").textContent = text;
  $("call-btn").disabled = consult.state !== "none";
}

function renderLink(link) {
  const t = state.t;
  if (state.checking) {
    $("link-summary").textContent = t("link_checking");
  } else if (!link) {
    $("link-summary").textContent = t("link_unknown");
  } else {
    const quality = link.up_kbps >= 1000 ? "link_good" : link.up_kbps >= 200 ? "link_fair" : "link_poor";
    $("link-summary").textContent = t(quality);
  }
  $("link-detail").textContent = link
    ? t("link_detail", { rtt: Math.round(link.rtt_ms), up: rate(link.up_kbps), down: rate(link.down_kbps), profile: link.profile })
    : "";
  $("check-btn").disabled = state.checking;
}

const KIND_ORDER = Object.keys(WORDS.en.kinds); // clinical order: oxygen, pulse, blood pressure, ...
const byKind = (a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind);

function renderDevices(devices) {
  const t = state.t;
  $("no-devices").hidden = devices.length > 0;
  $("devices").replaceChildren(...devices.map((device) => {
    const item = element("li", `device ${device.state}`);
    item.dataset.source = device.source;
    const head = element("div");
    head.append(element("span", "name", device.source.split(":")[0]), element("span", "state", t(device.state)));
    item.append(head);
    if (device.readings.length === 0) item.append(element("div", "muted", t("no_reading")));
    for (const reading of [...device.readings].sort(byKind)) {
      const box = element("span", "reading");
      box.dataset.kind = reading.kind;
      const value = reading.value === null ? "--" : String(Math.round(reading.value * 10) / 10);
      box.append(element("div", "muted", t.kind(reading.kind)), element("span", "value", value),
                 element("span", "unit", " " + reading.unit.replace("mm[Hg]", "mmHg").replace("Cel", "°C")),
                 element("div", "when", t("last_reading", { ago: ago(reading.time) })));
      item.append(box);
    }
    return item;
  }));
}

function renderOutbox(items, records) {
  const waiting = records ? records.count : 0, refused = records ? records.refused : 0;
  $("outbox-empty").hidden = items.length > 0 || waiting > 0;
  $("records-waiting").hidden = waiting === 0;
  if (waiting) $("records-waiting").textContent = state.t("records_waiting", { count: waiting, ago: ago(records.oldest) });
  $("records-refused").hidden = refused === 0;
  if (refused) $("records-refused").textContent = state.t("records_refused", { count: refused });
  $("outbox").replaceChildren(...items.map((item) => {
    const row = element("li");
    const bar = element("progress");
    bar.max = item.size;
    bar.value = item.sent;
    row.append(element("div", "", state.t("photo", { name: item.name })), bar);
    return row;
  }));
}

function render(status) {
  $("station-name").textContent = status.station;
  const online = $("online");
  online.textContent = state.t(status.online ? "online" : "offline");
  online.className = "pill " + (status.online ? "ok" : "bad");
  renderConsult(status.consult);
  renderLink(status.link);
  renderDevices(status.devices);
  renderOutbox(status.outbox, status.records);
}

async function poll() {
  try {
    const res = await fetch("/api/status", { cache: "no-store" });
    if (res.ok) {
      state.status = await res.json();
      render(state.status);
    }
  } catch (error) {
    $("online").className = "pill bad";
  }
  setTimeout(poll, 1000);
}

async function post(path, body) {
  const res = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  const answer = await res.json();
  if (res.ok) return { ok: true, answer };
  const code = answer.error ? answer.error.code : "error";
  const known = { offline: "error_offline", consult_open: "error_consult_open" }[code];
  return { ok: false, message: known ? state.t(known) : state.t("error_other", { message: answer.error ? answer.error.message : res.status }) };
}

async function checkLink() {
  state.checking = true;
  if (state.status) renderLink(state.status.link);
  const result = await post("/api/linkcheck", {});
  state.checking = false;
  if (state.status) {
    if (result.ok) state.status.link = result.answer;
    renderLink(state.status.link);
  }
  if (!result.ok) $("link-detail").textContent = result.message;
}

$("call-btn").addEventListener("click", async () => {
  $("call-error").textContent = "";
  const priority = document.querySelector("input[name=priority]:checked").value;
  const result = await post("/api/call", { priority, reason: $("reason").value });
  $("call-error").textContent = result.ok ? "" : result.message;
  if (result.ok) $("consult-status").textContent = state.t("call_sent");
});

$("still-btn").addEventListener("click", async () => {
  $("still-error").textContent = "";
  const result = await post("/api/still", {});
  $("still-error").textContent = result.ok ? state.t("still_taken") : result.message;
});

$("note-btn").addEventListener("click", async () => {
  const text = $("note").value.trim();
  if (!text) return;
  const result = await post("/api/note", { text });
  $("note-status").textContent = result.ok ? state.t("note_saved") : result.message;
  if (result.ok) $("note").value = "";
});

$("check-btn").addEventListener("click", checkLink);

for (const code of LANGUAGES) {
  $(`lang-${code}`).addEventListener("click", () => {
    localStorage.setItem("farlink-lang", code);
    setLanguage(code);
  });
}

// Self-view: the next picture is asked for once the last one has arrived, so a slow station
// never piles up requests.
const selfView = $("self-view");
selfView.addEventListener("load", () => setTimeout(() => { selfView.src = `/api/selfview.jpg?t=${Date.now()}`; }, 1000));
selfView.addEventListener("error", () => { selfView.hidden = true; });
selfView.src = `/api/selfview.jpg?t=${Date.now()}`;

setLanguage(localStorage.getItem("farlink-lang") || pickLanguage(navigator.languages || [navigator.language]));
poll();
checkLink();
