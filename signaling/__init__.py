"""The aiohttp signaling server: accounts, waiting room, consult lifecycle, relay, the web app."""
