// Stills on the specialist page: the receiving end of the station's `files` data channel.
// Offers are answered with the byte count already held, so a transfer cut by an outage resumes
// on the next peer connection; a still is shown (and acknowledged "done") only once its SHA-256
// matches. Partial stills live here, not on the peer connection, so they survive reconnects.

const HEADER = 24; // 16-byte still id + 8-byte offset

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function sha256(blob) {
  return hex(new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer())));
}

export class StillsView {
  constructor(list) {
    this.list = list;
    this.files = {}; // id -> {offer, chunks, received, done, url, item}
  }

  /** Take over a new peer connection's `files` channel. */
  attach(channel) {
    channel.binaryType = "arraybuffer";
    channel.onmessage = (event) => {
      if (typeof event.data === "string") this.onOffer(channel, JSON.parse(event.data));
      else this.onChunk(channel, event.data);
    };
  }

  /** Stills already in the consult record (taken before this page joined, or before a reload). */
  showRecorded(stills) {
    for (const still of stills) {
      if (this.files[still.id]) continue;
      this.files[still.id] = { offer: still, received: still.size, done: true, url: `/api/stills/${still.id}` };
      this.render(this.files[still.id]);
    }
  }

  onOffer(channel, offer) {
    if (offer.type !== "file") return;
    const known = this.files[offer.id];
    if (known && known.done) {
      channel.send(JSON.stringify({ type: "done", id: offer.id }));
      return;
    }
    const file = known || { offer, chunks: [], received: 0, done: false };
    this.files[offer.id] = file;
    channel.send(JSON.stringify({ type: "resume", id: offer.id, offset: file.received }));
    this.render(file);
  }

  async onChunk(channel, buffer) {
    if (buffer.byteLength < HEADER) return;
    const id = hex(new Uint8Array(buffer, 0, 16));
    const offset = Number(new DataView(buffer).getBigUint64(16));
    const file = this.files[id];
    if (!file || file.done || offset !== file.received) return; // stale bytes from before a resume
    file.chunks.push(new Uint8Array(buffer, HEADER));
    file.received += buffer.byteLength - HEADER;
    channel.send(JSON.stringify({ type: "ack", id, offset: file.received }));
    this.render(file);
    if (file.received < file.offer.size) return;
    const blob = new Blob(file.chunks, { type: file.offer.mime });
    if (await sha256(blob) !== file.offer.sha256) {
      file.chunks = [];
      file.received = 0;
      channel.send(JSON.stringify({ type: "resume", id, offset: 0 }));
      return;
    }
    file.done = true;
    file.chunks = null;
    file.url = URL.createObjectURL(blob);
    channel.send(JSON.stringify({ type: "done", id }));
    this.render(file);
  }

  render(file) {
    if (!file.item) {
      file.item = document.createElement("li");
      file.item.className = "still";
      file.item.dataset.still = file.offer.id;
      this.list.prepend(file.item);
    }
    const { offer } = file;
    const title = document.createElement("div");
    title.textContent = `${offer.name} · ${offer.width}×${offer.height} · ${Math.round(offer.size / 1024)} KiB`;
    if (!file.done) {
      const bar = document.createElement("progress");
      bar.max = offer.size;
      bar.value = file.received;
      file.item.replaceChildren(title, bar);
      return;
    }
    const link = document.createElement("a");
    link.href = file.url;
    link.download = offer.name;
    link.target = "_blank";
    const image = document.createElement("img");
    image.src = file.url;
    image.alt = offer.name;
    link.append(image);
    const download = document.createElement("a");
    download.href = file.url;
    download.download = offer.name;
    download.className = "download";
    download.textContent = "Download";
    file.item.replaceChildren(title, link, download);
  }
}
