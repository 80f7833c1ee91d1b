"""The benchmark's gateway app, built from ``BENCH_KIND`` and ``BENCH_URL``, for servers
that import an app by name (granian): ``granian --interface asgi gateway_app:app``."""

from __future__ import annotations

import os

from gateway import build_app
from modelport.cli import _serve

_serve._setup_logging("info")  # one access-log line per request, as modelport serve
app = build_app(os.environ["BENCH_KIND"], os.environ["BENCH_URL"])
