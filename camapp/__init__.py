"""camapp: real-time MobileNet classification and SSD detection for the Raspberry Pi and small Linux boards."""

__version__ = "0.1.0"
