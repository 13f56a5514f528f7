"""Events and clips on the page: the snapshots and clips the snapshots output saved (GET /api/media).

GET /api/media lists the newest files in snapshots.dir that camapp wrote (snapshot_*.jpg and
clip_*.mp4, finished ones only), with the event time and label their names carry. GET
/api/media/file?name=N serves one of them, and GET /api/media/thumb?name=N a 160 px JPEG of a
snapshot. A name is served only when it is exactly one of the folder's listed files: no path ever
comes from the request, so nothing else is reachable.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import quote

import cv2

from camapp.outputs.snapshots import CLIP_PREFIX, PART, SNAPSHOT_PREFIX

LISTED = 24
THUMB_WIDTH = 160
NAME = re.compile(r"^(snapshot_|clip_)(\d{8}-\d{6}-\d{3})_(.+?)(?:-\d+)?\.(jpg|mp4)$")
Reply = tuple[HTTPStatus, str, bytes]


class MediaRoutes:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        if path == "/api/media":
            return _json({"dir": str(self.folder), "files": self.listing()})
        name = (query.get("name") or [""])[0]
        found = self._ours(name)
        if found is None:
            return _json({"error": f"no snapshot or clip named '{name[:100]}'"}, HTTPStatus.NOT_FOUND)
        if path == "/api/media/thumb":
            if not name.endswith(".jpg"):
                return _json({"error": "thumbnails are of snapshots (.jpg) only"}, HTTPStatus.BAD_REQUEST)
            return HTTPStatus.OK, "image/jpeg", thumbnail(found)
        try:
            data = found.read_bytes()
        except OSError as exc:  # removed by retention meanwhile
            return _json({"error": f"cannot read {name}: {exc.strerror or exc}"}, HTTPStatus.NOT_FOUND)
        return HTTPStatus.OK, "video/mp4" if name.endswith(".mp4") else "image/jpeg", data

    def _names(self) -> list[str]:
        try:
            names = os.listdir(self.folder)
        except OSError:
            return []
        return [n for n in names if n.startswith((SNAPSHOT_PREFIX, CLIP_PREFIX)) and PART not in n and NAME.match(n)]

    def _ours(self, name: str) -> Path | None:
        return self.folder / name if name and name in self._names() else None

    def listing(self) -> list[dict[str, Any]]:
        rows = []
        for name in self._names():
            m = NAME.match(name)
            assert m is not None
            when = datetime.strptime(m.group(2) + "000", "%Y%m%d-%H%M%S-%f").timestamp()
            kind = "clip" if m.group(1) == CLIP_PREFIX else "snapshot"
            q = quote(name)
            rows.append({"name": name, "kind": kind, "time": round(when, 3), "label": m.group(3), "url": f"api/media/file?name={q}",
                         "thumb": f"api/media/thumb?name={q}" if kind == "snapshot" else None})
        rows.sort(key=lambda r: (r["time"], r["name"]), reverse=True)
        return rows[:LISTED]


def thumbnail(path: Path) -> bytes:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        return b""
    h, w = image.shape[:2]
    if w > THUMB_WIDTH:
        image = cv2.resize(image, (THUMB_WIDTH, max(1, round(h * THUMB_WIDTH / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 75])
    return buf.tobytes() if ok else b""


def _json(body: dict[str, Any], status: HTTPStatus = HTTPStatus.OK) -> Reply:
    return status, "application/json", json.dumps(body, separators=(",", ":")).encode()
