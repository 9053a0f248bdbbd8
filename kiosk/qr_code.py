"""A QR code drawn by zxing-cpp into a Kivy texture (the hand-off to the shopper's phone)."""

from __future__ import annotations

from typing import Any

import numpy as np
import zxingcpp
from kivy.graphics.texture import Texture
from kivy.properties import StringProperty
from kivy.uix.image import Image


def qr_pixels(text: str, scale: int = 8) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """The QR code of `text` as grey pixels, quiet zone included, top row first."""
    symbol = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    return np.ascontiguousarray(np.asarray(zxingcpp.write_barcode_to_image(symbol, scale=scale)))


class QRCode(Image):  # type: ignore[misc]
    """Shows `data` as a QR code; crisp when scaled (nearest-neighbour filtering)."""

    data = StringProperty("")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fit_mode = "contain"
        self.bind(data=self._draw)

    def _draw(self, *_: Any) -> None:
        if not self.data:
            self.texture = None
            return
        pixels = qr_pixels(self.data)
        height, width = pixels.shape
        texture = Texture.create(size=(width, height), colorfmt="luminance")
        texture.mag_filter = "nearest"
        # Kivy textures start at the bottom row: flip the image.
        texture.blit_buffer(pixels[::-1].tobytes(), colorfmt="luminance", bufferfmt="ubyte")
        self.texture = texture
