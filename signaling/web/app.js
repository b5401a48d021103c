// The specialist page: log in, watch the waiting room, join a consult, see and hear the
// station, read its vitals live, chat, end. Plain ES module; uPlot draws the trend chart.
import { VitalsView } from "/static/vitals.js";
import { StillsView } from "/static/stills.js";
import { Team } from "/static/team.js";

const $ = (id) => document.getElementById(id);
// offerer: who sent our peer connection (the station, or the server's relay from the second
// viewer on); station: the station's member id while it is on signaling.
const state = { ws: null, me: null, iceServers: [], consult: null, offerer: null, station: null, pc: null, control: null, mic: null };
window.farlink = state; // for tests and the benchmark page

function show(view) {
  for (const id of ["login-view", "room-view", "consult-view"]) $(id).hidden = id !== view;
}

function setPill(id, text, cls) {
  const el = $(id);
  el.textContent = text;
  el.className = "pill " + (cls || "");
}

async function start() {
  const res = await fetch("/api/me");
  if (res.ok) {
    state.me = await res.json();
    connect();
  } else {
    show("login-view");
  }
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  const res = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name: $("name").value, password: $("password").value }),
  });
  const body = await res.json();
  if (!res.ok) {
    $("login-error").textContent = body.error ? body.error.message : "Login failed";
    return;
  }
  state.me = body;
  connect();
});

// State-changing requests carry the session's CSRF token (from /api/login or /api/me).
function post(path, body) {
  return fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": state.me ? state.me.csrf : "" },
    body: JSON.stringify(body || {}),
  });
}

$("logout-btn").addEventListener("click", async () => {
  await post("/api/logout");
  state.me = null;
  if (state.ws) { state.ws.onclose = null; state.ws.close(); }
  $("logout-btn").hidden = true;
  $("who").textContent = "";
  show("login-view");
});

function connect() {
  $("who").textContent = `${state.me.name} (${state.me.role})`;
  $("logout-btn").hidden = false;
  show(state.consult ? "consult-view" : "room-view");
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  state.ws = ws;
  ws.onopen = () => setPill("conn", "online", "ok");
  ws.onclose = (event) => {
    setPill("conn", "offline", "bad");
    if (event.code === 4401) { show("login-view"); return; }
    setTimeout(connect, 2000);
  };
  ws.onmessage = (event) => onMessage(JSON.parse(event.data));
}

function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

const team = new Team(state, send);

const handlers = {
  welcome(m) {
    state.iceServers = m.ice_servers || [];
    // A new socket (our network or the server came back): enter the consult we were in again;
    // the station then offers afresh.
    if (state.consult) send({ type: team.readOnly ? "observe" : "join", consult: state.consult.id });
  },
  waiting_room(m) { renderRoom(m.consults, m.staff || []); },
  claimed(m) {
    state.claimed = m.consult;
    $("claimed-title").textContent = `${m.consult.station} — ${m.consult.priority} — ${m.consult.reason}`;
    $("claimed-box").hidden = false;
  },
  declined() { state.claimed = null; $("claimed-box").hidden = true; },
  transferred(m) {
    closePeer();
    state.consult = null;
    $("transfer-note").textContent = `You transferred ${m.consult.station} to ${m.consult.transfer_to || "the waiting room"}.`;
    $("transfer-note").hidden = false;
    show("room-view");
  },
  transfer_offered(m) {
    $("transfer-note").textContent = `${m.from} transferred ${m.consult.station} (${m.consult.reason}) to you.`;
    $("transfer-note").hidden = false;
  },
  joined(m) {
    // In the consult we were showing again (our socket came back): keep its chart and chat.
    const again = Boolean(state.consult) && state.consult.id === m.consult.id;
    state.consult = m.consult;
    state.claimed = null;
    $("claimed-box").hidden = true;
    if (!again) state.vitals = new VitalsView($("chart"));
    state.station = (m.peers.find((p) => p.role === "station") || {}).id || null;
    if (!state.stills || state.stills.consult !== m.consult.id) {
      $("stills").replaceChildren();
      state.stills = new StillsView($("stills"));
      state.stills.consult = m.consult.id;
    }
    fetch(`/api/consults/${m.consult.id}/stills`).then((r) => (r.ok ? r.json() : [])).then((s) => state.stills.showRecorded(s));
    $("consult-title").textContent = `${m.consult.station} — ${m.consult.reason}`;
    if (!again) $("chat-log").replaceChildren();
    team.entered(m.consult);
    setPill("consult-state", again ? "reconnecting" : "connecting", "warn");
    show("consult-view");
  },
  readings(m) { if (state.vitals && state.consult && m.consult === state.consult.id) state.vitals.merge(m.readings); },
  invited(m) { team.invited(m); },
  invite_sent(m) { team.inviteSent(m); },
  signal(m) { if (m.data.kind === "offer") answer(m.from, m.data.sdp); },
  peer_left(m) {
    if (m.peer === state.station || m.peer === state.offerer) setPill("consult-state", "reconnecting", "warn");
    if (m.peer === state.station) state.station = null;
  },
  peer_joined(m) {
    // The station is back on signaling. Peer to peer it keeps a connection that is still up (ours
    // revives when its checks reach us again) or sends a fresh offer (aiortc has no ICE restart);
    // through the relay it offers to the relay, which says when its media is back.
    if (m.peer.role === "station") {
      state.station = m.peer.id;
      if (!state.pc || state.pc.connectionState !== "connected") setPill("consult-state", "reconnecting", "warn");
    }
  },
  consult_ended(m) {
    closePeer();
    state.consult = null;
    setPill("consult-state", "ended", "bad");
    addChat({ from: "Farlink", text: `Consult ended (${m.reason}).`, time: Date.now() / 1000 });
    setTimeout(() => { if (!state.consult) show("room-view"); }, 1500);
  },
  error(m) {
    state.lastError = m;
    if (!team.error(m)) console.warn("server:", m.code, m.message);
  },
};

function onMessage(m) {
  const handler = handlers[m.type];
  if (handler) handler(m);
}

function renderRoom(consults, staff) {
  $("staff").replaceChildren(...staff.filter((n) => n !== state.me.name).map((n) => {
    const option = document.createElement("option");
    option.value = n;
    return option;
  }));
  // Waiting consults, and transfers addressed to me or to anyone, in the server's order.
  const waiting = consults.filter((c) => c.state === "waiting" ||
    (c.state === "transferred" && (!c.transfer_to || c.transfer_to === state.me.name)));
  $("room-empty").hidden = waiting.length > 0;
  $("room").replaceChildren(...waiting.map((c) => {
    const li = document.createElement("li");
    const since = Math.round(Date.now() / 1000 - c.requested_at);
    li.innerHTML = `<span class="priority-${c.priority}"></span><strong></strong><span></span><span class="muted"></span>`;
    li.children[0].textContent = c.priority;
    li.children[1].textContent = c.station;
    li.children[2].textContent = c.reason;
    li.children[3].textContent = c.state === "transferred" ? `transferred, waiting ${since} s` : `waiting ${since} s`;
    const button = document.createElement("button");
    button.className = "join";
    button.dataset.consult = c.id;
    button.textContent = "Join";
    button.onclick = () => send({ type: "join", consult: c.id });
    li.append(button);
    return li;
  }));
}

async function microphone() {
  if (state.mic) return state.mic;
  try {
    state.mic = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    console.warn("no microphone:", err);
    state.mic = null;
  }
  return state.mic;
}

function closePeer() {
  if (state.pc) state.pc.close();
  state.pc = null;
  state.control = null;
}

async function answer(from, sdp) {
  closePeer();
  state.offerer = from;
  const pc = new RTCPeerConnection({ iceServers: state.iceServers });
  state.pc = pc;
  pc.ontrack = (event) => {
    const video = $("video");
    if (!video.srcObject) video.srcObject = new MediaStream();
    video.srcObject.addTrack(event.track);
    video.play().catch(() => {});
  };
  $("video").srcObject = null;
  pc.ondatachannel = ({ channel }) => {
    if (channel.label === "vitals") channel.onmessage = (e) => onVitals(JSON.parse(e.data));
    if (channel.label === "control") {
      state.control = channel;
      channel.onmessage = (e) => onControl(JSON.parse(e.data));
    }
    if (channel.label === "files") state.stills.attach(channel);
  };
  pc.onconnectionstatechange = () => {
    if (pc !== state.pc) return; // a replaced connection closing
    const s = pc.connectionState;
    if (s === "connected") setPill("consult-state", "live", "ok");
    else if (s === "disconnected" || s === "failed") setPill("consult-state", "reconnecting", "warn");
    if (s === "failed") askForOffer();
  };
  await pc.setRemoteDescription({ type: "offer", sdp });
  const mic = team.readOnly ? null : await microphone();
  if (mic) for (const track of mic.getAudioTracks()) pc.addTrack(track, mic);
  await pc.setLocalDescription(await pc.createAnswer());
  await iceGatheringComplete(pc);
  send({ type: "signal", consult: state.consult.id, to: from, data: { kind: "answer", sdp: pc.localDescription.sdp } });
}

// A failed connection cannot come back (no ICE restart with aiortc): ask the station for a fresh
// offer, and again every 15 s while none has brought the link back (the station may be offline;
// it offers by itself when it rejoins).
let offerAsked = null;
function askForOffer() {
  if (offerAsked || !state.consult) return;
  const ask = () => {
    if (!state.consult || (state.pc && state.pc.connectionState !== "failed")) {
      clearInterval(offerAsked);
      offerAsked = null;
      return;
    }
    send({ type: "signal", consult: state.consult.id, to: state.offerer, data: { kind: "renegotiate" } });
  };
  offerAsked = setInterval(ask, 15000);
  ask();
}

function iceGatheringComplete(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => { if (pc.iceGatheringState === "complete") { pc.removeEventListener("icegatheringstatechange", check); resolve(); } };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(resolve, 3000); // aiortc does not trickle: send what we have
  });
}

function onVitals(message) {
  // station/vitalschannel.py: readings grouped by source, each [kind, value, unit, age ms, extra?]
  if (message.type !== "readings" || !state.vitals) return;
  if (!message.sources) { // the record form, from a station not yet upgraded
    for (const reading of message.readings || []) state.vitals.add(reading);
    return;
  }
  for (const [source, rows] of Object.entries(message.sources)) {
    for (const [kind, value, unit, age, extra = {}] of rows) {
      state.vitals.add({ kind, value, unit, source, time: message.sent - age / 1000, status: extra.status || [], absent: extra.absent });
    }
  }
}

function onControl(message) {
  if (message.type === "chat") addChat(message);
  else if (message.type === "device") addDevice(`${message.source}: ${message.state}${message.reason ? " (" + message.reason + ")" : ""}`);
  else if (message.type === "gap") addDevice(`${message.source}: no data for ${Math.round(message.end - message.start)} s`);
  else if (message.type === "link") showLink(message);
  else if (message.type === "station") { // from the relay: the station's media reaches it, or not
    if (message.state === "live") setPill("consult-state", "live", "ok");
    else setPill("consult-state", "reconnecting", "warn");
  }
}

function showLink(link) {
  state.link = link;
  const rtt = link.rtt_ms === null ? "" : ` · RTT ${link.rtt_ms} ms`;
  $("link-stats").textContent = `link: ${link.rung} · ${link.target_kbps} kbit/s${rtt}`;
}

function addDevice(text) {
  const li = document.createElement("li");
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  $("devices").prepend(li);
}

function addChat(message) {
  const li = document.createElement("li");
  const time = new Date(message.time * 1000).toLocaleTimeString();
  li.textContent = `${time} ${message.from}: ${message.text}`;
  $("chat-log").append(li);
  li.scrollIntoView({ block: "nearest" });
}

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("chat-input").value.trim();
  if (!text || !state.control || state.control.readyState !== "open") return;
  const message = { type: "chat", text, from: state.me.name, time: Date.now() / 1000 };
  state.control.send(JSON.stringify(message));
  addChat(message);
  $("chat-input").value = "";
});

$("still-btn").addEventListener("click", () => {
  if (state.control && state.control.readyState === "open") state.control.send(JSON.stringify({ type: "still_request" }));
});

$("claim-next").addEventListener("click", () => send({ type: "claim_next" }));
$("claimed-join").addEventListener("click", () => { if (state.claimed) send({ type: "join", consult: state.claimed.id }); });
$("claimed-decline").addEventListener("click", () => { if (state.claimed) send({ type: "decline", consult: state.claimed.id }); });
$("transfer-btn").addEventListener("click", () => {
  if (!state.consult) return;
  const to = $("transfer-to").value.trim();
  send(to ? { type: "transfer", consult: state.consult.id, to } : { type: "transfer", consult: state.consult.id });
});

$("end-btn").addEventListener("click", () => {
  if (state.consult) send({ type: "end", consult: state.consult.id });
});

setInterval(async () => {
  if (!state.pc) return;
  const stats = await state.pc.getStats();
  for (const report of stats.values()) {
    if (report.type === "inbound-rtp" && report.kind === "video") {
      state.videoStats = report;
      $("video-stats").textContent =
        `${report.frameWidth || 0}×${report.frameHeight || 0} · ${Math.round(report.framesPerSecond || 0)} fps · ${report.framesDecoded} frames`;
    }
  }
}, 1000);

start();
