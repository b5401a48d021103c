"""The remote-site application: signaling client, devices, media, outbox, the local page."""
