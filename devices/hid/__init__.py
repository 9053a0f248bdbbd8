"""Keyboard-wedge barcode scanners (USB HID), read as raw key codes with evdev."""
