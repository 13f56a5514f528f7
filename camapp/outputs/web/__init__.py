"""The web view: a page with the live annotated stream, /stream.mjpg, /snapshot.jpg, /api/status,
/healthz and /metrics. See docs/web.md."""

from camapp.outputs.web.sink import CameraInfo, WebOptions, WebSink

__all__ = ["CameraInfo", "WebOptions", "WebSink"]
