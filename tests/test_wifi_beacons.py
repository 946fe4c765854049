"""Scapy beacon parsing, and the probe's local scan feeding its own area.

No monitor-mode radio exists here. The beacon frames below are CONSTRUCTED
with scapy (the layout of 802.11 beacons and the BSS Load element) and
read back from a pcap through scapy's own sniff(); the local ``iw`` scan
replays RECORDED output through the probe's runner seam.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.wifi_support import ReplayIw, collect, make_probe, one


def beacon(bssid: str, ssid: bytes, signal: int, freq: int, load: bytes | None = None) -> Any:
    from scapy.layers.dot11 import Dot11, Dot11Beacon, Dot11Elt, RadioTap

    frame = RadioTap(present="Flags+Channel+dBm_AntSignal", dBm_AntSignal=signal,
                     ChannelFrequency=freq, ChannelFlags=0x00a0) / \
        Dot11(type=0, subtype=8, addr1="ff:ff:ff:ff:ff:ff", addr2=bssid, addr3=bssid) / \
        Dot11Beacon(cap="ESS") / Dot11Elt(ID=0, info=ssid) / Dot11Elt(ID=3, info=b"\x06")
    if load is not None:
        frame = frame / Dot11Elt(ID=11, info=load)
    return frame


def test_beacons_from_a_capture(tmp_path: Path) -> None:
    from scapy.utils import wrpcap

    from agent.probes.wifi.beacons import sniff_beacons

    pcap = tmp_path / "beacons.pcap"
    wrpcap(str(pcap), [
        beacon("00:e0:fc:00:00:01", "智慧校园".encode(), -48, 2437, b"\x0c\x00\x80\x00\x00"),
        beacon("00:e0:fc:00:00:01", "智慧校园".encode(), -41, 2437, b"\x0c\x00\x80\x00\x00"),
        beacon("00:e0:fc:00:00:02", b"\x00\x00\x00", -70, 2437),
    ])
    found = {b.bssid: b for b in sniff_beacons(offline=str(pcap))}
    assert set(found) == {"00:e0:fc:00:00:01", "00:e0:fc:00:00:02"}
    school = found["00:e0:fc:00:00:01"]
    assert (school.ssid, school.signal_dbm, school.channel, school.freq_mhz) == \
        ("智慧校园", -41.0, 6, 2437.0)
    assert (school.station_count, school.utilisation_share) == (12, round(128 / 255, 4))
    assert found["00:e0:fc:00:00:02"].hidden


def test_beacon_ssids_decode_like_iw_scans() -> None:
    from agent.probes.wifi.beacons import beacon_to_bss

    gbk = beacon_to_bss(beacon("00:e0:fc:00:00:03", "校园网".encode("gb18030"), -50, 2412))
    assert gbk is not None and (gbk.ssid, gbk.hidden) == ("校园网", False)
    odd = beacon_to_bss(beacon("00:e0:fc:00:00:04", b"\xff\x01ab", -50, 2412))
    assert odd is not None and odd.ssid.isprintable() and odd.ssid.endswith("ab")


def test_probe_local_scan_covers_its_area(tmp_path: Path) -> None:
    probe = make_probe(tmp_path, """
[probes.wifi]
ssids = ["UPCCDB29F5"]
scan_interface = "wlan0"
scan_area = "office"

[probes.wifi.areas.office]
kind = "office"
""")
    probe.run_iw = ReplayIw()
    readings = collect(probe)
    scan = one(readings, "wifi_scan", iface="wlan0", method="iw")
    assert (scan["result"], scan["bss_total"], scan["school_bss"], scan["hidden_bss"]) == \
        ("ok", 26, 2, 1)
    assert (scan["bss_2g"], scan["bss_5g"], scan["best_signal_dbm"]) == (20, 6, -30.0)
    assert scan["school_stations"] == 3 + 3  # BSS Load of both UPCCDB29F5 BSSes
    office = one(readings, "wifi_area", area="office")
    assert (office["source"], office["best_signal_dbm"], office["covered"]) == ("scan", -30.0,
                                                                                True)


def test_probe_scapy_without_a_monitor_radio_is_unavailable(tmp_path: Path) -> None:
    # Real scapy, real (absent) interface: there is no radio on this machine.
    probe = make_probe(tmp_path, """
[probes.wifi]
scan_interface = "wlan-none0"
scan_method = "scapy"
scan_seconds = 1
""")
    scan = one(collect(probe), "wifi_scan", iface="wlan-none0", method="scapy")
    assert scan["result"] == "unavailable" and scan["detail"]
    assert "bss_total" not in scan
