"""Capture, adaptive bitrate, audio tuning, stills and the link emulator used by benchmarks."""
