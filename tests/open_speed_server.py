"""A stand-in for speedtest.net's public servers: the speed server's layout, no token.

    python -m tests.open_speed_server HOST PORT

Public speedtest servers take anyone, and the agent never sends them its
token; the real ``speed-server`` command always wants one, so the
speedtest.net-mode tests run this instead.
"""

from __future__ import annotations

import sys

from collector.speedserver.http import SpeedHandler, SpeedServer


class _PublicHandler(SpeedHandler):
    def _client(self) -> str | None:
        self.conn.client = "public"
        return "public"


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    server = SpeedServer((host, port), {"public": "unused-token-0123456789"})
    server.RequestHandlerClass = _PublicHandler
    server.serve_forever()


if __name__ == "__main__":
    main()
