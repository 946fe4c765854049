"""Device bytes to text: the one decoder SNMP values and Wi-Fi SSIDs share.

Inputs are constructed: Chinese names encoded as current firmware sends them
(UTF-8) and as older Chinese firmware does (GB 18030 / GBK), and binary
octet strings (a MAC address) that are not text at all.
"""

from __future__ import annotations

import pytest

from agent.devicetext import device_text
from agent.probes.wifi.iwscan import decode_ssid, ssid_text
from agent.snmp.client import text

NAMES = ["教学楼A-1F", "高一(3)班", "智慧校园", "GigabitEthernet0/0/3"]
MAC = bytes.fromhex("0019a9cdc680")


@pytest.mark.parametrize("name", NAMES)
def test_utf8_and_gb18030_both_decode_to_the_name(name: str) -> None:
    assert device_text(name.encode("utf-8")) == name
    assert device_text(name.encode("gb18030")) == name


def test_utf8_is_tried_first() -> None:
    # GB 18030 accepts these UTF-8 bytes too, as printable nonsense; UTF-8 must win.
    raw = "智慧校园".encode()
    assert raw.decode("gb18030").isprintable() and raw.decode("gb18030") != "智慧校园"
    assert device_text(raw) == "智慧校园"


def test_binary_is_not_text() -> None:
    assert device_text(MAC) is None
    assert device_text(b"\xff\xfe\x00\x01") is None
    assert device_text(b"") == ""


def test_snmp_values() -> None:
    assert text("教室".encode("gb18030") + b"\x00\x00") == "教室"  # NUL-padded, older firmware
    assert text("高一(3)班".encode()) == "高一(3)班"
    assert text(MAC) == "00:19:a9:cd:c6:80"  # not text: hex, as net-snmp shows it
    assert (text(None), text(42), text("1.3.6.1")) == ("", "42", "1.3.6.1")


def test_ssids() -> None:
    assert ssid_text("校园网".encode("gb18030")) == ("校园网", False)
    assert ssid_text("校园网".encode()) == ("校园网", False)
    assert ssid_text(b"\x00" * 4) == ("", True)
    # Not text in either encoding: still a printable name, never hex.
    name, hidden = ssid_text(b"\xff\x01abc")
    assert not hidden and name.isprintable() and name.endswith("abc") and "\ufffd" in name
    escaped = "".join(f"\\x{b:02x}" for b in "智慧校园".encode())
    assert decode_ssid(escaped) == ("智慧校园", False)
