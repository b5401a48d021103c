"""Real capture devices through PyAV (FFmpeg): a camera and a microphone."""

from __future__ import annotations

import platform

from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamTrack

from devices.errors import LocalError


def _player(device: str, kind: str, options: dict[str, str]) -> MediaPlayer:
    system = platform.system()
    fmt = {
        ("Linux", "video"): "v4l2",
        ("Linux", "audio"): "pulse",
        ("Darwin", "video"): "avfoundation",
        ("Darwin", "audio"): "avfoundation",
        ("Windows", "video"): "dshow",
        ("Windows", "audio"): "dshow",
    }.get((system, kind))
    try:
        return MediaPlayer(device, format=fmt, options=options)
    except Exception as exc:  # PyAV raises many OSError/FFmpegError subclasses
        raise LocalError(f"cannot open {kind} device {device!r}: {exc}", code="capture_unavailable") from exc


def open_camera(device: str, size: tuple[int, int] = (640, 480), fps: int = 30) -> MediaStreamTrack:
    """Open a camera (``/dev/video0`` on Linux) at the given size and frame rate."""
    player = _player(device, "video", {"video_size": f"{size[0]}x{size[1]}", "framerate": str(fps)})
    if player.video is None:
        raise LocalError(f"{device!r} has no video stream", code="capture_unavailable")
    return player.video


def open_microphone(device: str = "default") -> MediaStreamTrack:
    """Open a microphone (a PulseAudio/ALSA source name on Linux)."""
    player = _player(device, "audio", {})
    if player.audio is None:
        raise LocalError(f"{device!r} has no audio stream", code="capture_unavailable")
    return player.audio
