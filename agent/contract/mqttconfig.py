"""The ``[mqtt]`` keys both programs share; each adds its own in a subclass."""

from __future__ import annotations

from agent.contract.configschema import Problem, between, opt, optional_file, section

# Keep a session (and the broker's queue for it) across a week-long outage.
SESSION_EXPIRY_SECONDS = 7 * 86400


@section
class MqttConfig:
    host: str = opt()
    port: int = opt(8883, between(1, 65535))
    tls: bool = opt(True)
    ca_file: str = opt("", optional_file)
    cert_file: str = opt("", optional_file)
    key_file: str = opt("", optional_file)
    username: str = opt("")
    password: str = opt("")
    client_id: str = opt("")
    keepalive: int = opt(60, between(5, 3600))

    def problems(self) -> list[Problem]:
        if self.cert_file and not self.key_file:
            return [(("key_file",), "is required when cert_file is set")]
        return []
