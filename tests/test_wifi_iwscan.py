"""The ``iw dev IF scan`` parser on recorded real output (no radio exists on these machines)."""

from __future__ import annotations

from agent.probes.wifi.iwscan import decode_ssid, frequency_to_channel, merge_scans, parse_scan
from tests.wifi_support import IW

SCAN0 = (IW / "jc_centos-7.7_iw-scan0.txt").read_text()
SCAN1 = (IW / "jc_centos-7.7_iw-scan1.txt").read_text()
SCAN2 = (IW / "jc_centos-7.7_iw-scan2.txt").read_text()


def test_recorded_scan_with_bss_load_and_hidden_ssid() -> None:
    bsses = parse_scan(SCAN1)
    assert len(bsses) == 26
    loads = sorted(b.station_count for b in bsses if b.station_count is not None)
    # SOURCES.md counted 21 BSS Load elements: 0 x4, 1 x9, 2, 3 x3, 4, 5, 13 and 768.
    assert loads == [0] * 4 + [1] * 9 + [2, 3, 3, 3, 4, 5, 13, 768]
    assert sum(b.utilisation_share is not None for b in bsses) == 21
    first = bsses[0]
    assert (first.bssid, first.freq_mhz, first.signal_dbm, first.ssid, first.channel) == \
        ("ac:22:05:db:4d:5b", 2412.0, -57.0, "Hoeheitsgebiet", 1)
    assert first.utilisation_share == round(103 / 255, 4)
    hidden = [b for b in bsses if b.hidden]
    assert [(b.bssid, b.ssid) for b in hidden] == [("fe:49:2d:20:d8:21", "")]
    assoc = [b for b in bsses if b.associated]
    assert [(b.ssid, b.band, b.channel) for b in assoc] == [("UPCCDB29F5", "5ghz", 36)]
    assert sum(b.band == "2.4ghz" for b in bsses) == 20
    assert sum(b.band == "5ghz" for b in bsses) == 6


def test_space_and_tab_indented_recordings_parse_alike() -> None:
    old = parse_scan(SCAN0)  # spaces, older iw
    assert [(b.ssid, b.channel, b.signal_dbm) for b in old] == \
        [("Cisco1240", 1, -45.0), ("Cisco1250", 11, -70.0)]
    new = parse_scan(SCAN2)  # tabs, newer iw, masked BSSID, "(on" without a space
    assert [(b.bssid, b.ssid, b.freq_mhz, b.signal_dbm) for b in new] == \
        [("xx:xx:xx:xx:3e:41", "Troubleshooting", 2412.0, -54.0)]
    # The same text re-indented with spaces must give the same result.
    respaced = SCAN2.replace("\t", "    ")
    assert parse_scan(respaced) == new


def test_escaped_utf8_and_hidden_ssids() -> None:
    # Constructed: iw escapes every non-ASCII byte, so 校园网 arrives as its UTF-8 bytes.
    escaped = "".join(f"\\x{b:02x}" for b in "校园网".encode())
    assert decode_ssid(escaped) == ("校园网", False)
    assert decode_ssid("\\x20lead\\x5cslash\\x20") == (" lead\\slash ", False)
    assert decode_ssid("") == ("", True)
    assert decode_ssid("\\x00" * 8) == ("", True)
    # Older Chinese APs send GBK names: 校园 in GB 18030 bytes.
    assert decode_ssid("\\xd0\\xa3\\xd4\\xb0") == ("校园", False)
    # Bytes valid in neither stay printable instead of failing the scan.
    text, hidden = decode_ssid("\\xff\\x01abc")
    assert not hidden and text.isprintable() and text.endswith("abc")


def test_constructed_edge_cases_from_a_recorded_block() -> None:
    # Constructed from the recorded scan2 block: a Chinese SSID, the same BSSID
    # again on 5 GHz (dual-band APs do this), and a hidden SSID printed empty.
    chinese = "".join(f"\\x{b:02x}" for b in "智慧校园".encode())
    block = SCAN2.replace("SSID: Troubleshooting", f"SSID: {chinese}")
    five = block.replace("freq: 2412", "freq: 5180").replace("signal: -54.00", "signal: -61.00")
    five = five.replace("* primary channel: 1", "* primary channel: 36")
    hidden = SCAN2.replace("SSID: Troubleshooting", "SSID: ").replace("3e:41", "3e:42")
    bsses = parse_scan(block + five + hidden)
    assert [(b.ssid, b.band, b.channel, b.hidden) for b in bsses] == [
        ("智慧校园", "2.4ghz", 1, False), ("智慧校园", "5ghz", 36, False), ("", "2.4ghz", 1, True)]
    merged = merge_scans([bsses, parse_scan(five.replace("-61.00", "-58.00"))])
    # One entry per BSSID and band; the strongest sighting of each wins.
    assert sorted((b.bssid, b.band, b.signal_dbm) for b in merged) == [
        ("xx:xx:xx:xx:3e:41", "2.4ghz", -54.0), ("xx:xx:xx:xx:3e:41", "5ghz", -58.0),
        ("xx:xx:xx:xx:3e:42", "2.4ghz", -54.0)]


def test_channel_numbers() -> None:
    assert [frequency_to_channel(f) for f in (2412, 2472, 2484, 5180, 5825, 5955, 900)] == \
        [1, 13, 14, 36, 165, 1, None]


def test_garbage_gives_nothing() -> None:
    assert parse_scan("") == []
    assert parse_scan("command failed: No such device (-19)\n") == []
