"""The server-side media relay: a consult's station uplink in once, out to every viewer."""
