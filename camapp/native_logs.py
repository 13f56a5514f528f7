"""OpenCV's and FFmpeg's own log lines stay out of the terminal and the journal unless --debug.

Both libraries write straight to stderr from C: 5-14 lines ("[ WARN:0@0.011] global cap_v4l.cpp
...") before camapp's one good line about a missing camera, and about 700 lines in 45 s ("[mjpeg @
0x...] overread 8", "error count: 68") from a stream with corrupt JPEGs. camapp says what matters
in its own words instead, and counts the frames it had to skip (camapp_frames_unreadable_total in
/metrics). Both libraries read their level from the environment when first used, so this runs
before cv2 is imported; a value the user set is kept.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

AV_LOG_QUIET = -8  # FFmpeg's libavutil/log.h


def quiet_native_logs(debug: bool, env: MutableMapping[str, str] | None = None) -> None:
    env = os.environ if env is None else env
    if debug:
        return  # --debug shows everything the libraries say
    env.setdefault("OPENCV_LOG_LEVEL", "OFF")
    # Read by OpenCV's FFmpeg backend when it starts: av_log_set_level(this).
    env.setdefault("OPENCV_FFMPEG_LOGLEVEL", str(AV_LOG_QUIET))
