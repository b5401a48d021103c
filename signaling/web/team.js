// Multi-party consults on the specialist page. The lead specialist invites a colleague (as a
// second specialist) or an observer by user name; the invitee sees the invitation above the
// waiting room and accepts it. Observers watch read-only: no microphone, no chat, no stills
// request, no end button (the relay drops their control messages and their audio anyway).
const $ = (id) => document.getElementById(id);

export class Team {
  constructor(state, send) {
    this.state = state;
    this.send = send;
    this.invitations = new Map(); // consult id -> invitation message
    $("invite-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const user = $("invite-user").value.trim();
      if (!user || !this.state.consult) return;
      $("invite-status").textContent = "";
      this.send({ type: "invite", consult: this.state.consult.id, user, as: $("invite-as").value });
    });
  }

  get readOnly() { return this.state.me && this.state.me.role === "observer"; }

  // Called when we enter a consult: only its lead may invite; observers get the read-only view.
  entered(consult) {
    this.invitations.delete(consult.id);
    this.renderInvitations();
    $("invite-form").hidden = consult.lead !== this.state.me.name;
    for (const id of ["chat-form", "end-btn", "still-btn"]) $(id).hidden = this.readOnly;
  }

  invited(m) {
    this.invitations.set(m.consult.id, m);
    this.renderInvitations();
  }

  inviteSent(m) { $("invite-status").textContent = `${m.user} invited as ${m.as}`; }

  // The server's answer to an invitation that cannot be delivered; true when handled here.
  error(m) {
    if (m.code !== "not_online") return false;
    $("invite-status").textContent = m.message;
    return true;
  }

  renderInvitations() {
    $("invitations").replaceChildren(...[...this.invitations.values()].map((m) => {
      const li = document.createElement("li");
      li.textContent = `${m.by} invites you to ${m.consult.station} (${m.consult.reason}) as ${m.as} `;
      const accept = document.createElement("button");
      accept.className = "accept";
      accept.textContent = "Accept";
      accept.onclick = () => this.send({ type: m.as === "observer" ? "observe" : "join", consult: m.consult.id });
      li.append(accept);
      return li;
    }));
  }
}
