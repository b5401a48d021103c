"""Stills: one video frame encoded as a JPEG, at full resolution or scaled for a preview."""

from __future__ import annotations

import av
import cv2

from devices.errors import LocalError

STILL_QUALITY = 92


def encode_jpeg(frame: av.VideoFrame, max_width: int | None = None, quality: int = STILL_QUALITY) -> bytes:
    """JPEG bytes of ``frame``; scaled down (never up) to ``max_width`` when given.

    JPEG rather than PNG: a 1920x1080 camera still is ~0.3-1 MB as JPEG and several MB as PNG,
    and every byte of it may cross a satellite link.
    """
    image = frame.to_ndarray(format="bgr24")
    height, width = image.shape[:2]
    if max_width is not None and width > max_width:
        image = cv2.resize(image, (max_width, height * max_width // width), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise LocalError(f"cannot encode a {width}x{height} frame as JPEG", code="still_failed")
    return encoded.tobytes()
