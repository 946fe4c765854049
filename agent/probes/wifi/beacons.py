"""Beacon sniffing with scapy, the alternative to ``iw scan``.

For a radio in monitor mode (``iw dev mon0 interface add ... type monitor``)
or a saved capture. scapy is heavy, so it is imported only here and only
when this function runs; install it with the ``wifi-sniff`` extra.
"""

from __future__ import annotations

import logging
import struct
from typing import Any

from agent.probes.wifi.iwscan import Bss, frequency_to_channel, merge_scans, ssid_text

log = logging.getLogger(__name__)

ELT_SSID = 0
ELT_DS = 3
ELT_BSS_LOAD = 11


def beacon_to_bss(pkt: Any) -> Bss | None:
    """One beacon or probe response as a :class:`Bss`; None for other frames."""
    from scapy.layers.dot11 import Dot11, Dot11Beacon, Dot11Elt, Dot11ProbeResp, RadioTap

    if not (pkt.haslayer(Dot11Beacon) or pkt.haslayer(Dot11ProbeResp)):
        return None
    bss = Bss(bssid=str(pkt[Dot11].addr3).lower())
    if pkt.haslayer(RadioTap):
        rt = pkt[RadioTap]
        signal = getattr(rt, "dBm_AntSignal", None)
        if signal is not None:
            bss.signal_dbm = float(signal)
        freq = getattr(rt, "ChannelFrequency", None)
        if freq:
            bss.freq_mhz = float(freq)
            bss.channel = frequency_to_channel(float(freq))
    elt = pkt.getlayer(Dot11Elt)
    while elt is not None:
        info = bytes(elt.info or b"")
        if elt.ID == ELT_SSID and not bss.ssid and not bss.hidden:
            # Decoded exactly as an iw scan's SSID, so both methods name a network alike.
            bss.ssid, bss.hidden = ssid_text(info)
        elif elt.ID == ELT_DS and len(info) >= 1 and bss.channel is None:
            bss.channel = info[0]
        elif elt.ID == ELT_BSS_LOAD and len(info) >= 3:
            # 802.11 BSS Load: station count (LE u16), channel utilisation (u8 of 255).
            stations, util = struct.unpack("<HB", info[:3])
            bss.station_count, bss.utilisation_share = stations, round(util / 255, 4)
        elt = elt.payload.getlayer(Dot11Elt)
    return bss


def sniff_beacons(iface: str | None = None, seconds: float = 5.0,
                  offline: str | None = None) -> list[Bss]:
    """Beacons heard on a monitor interface for ``seconds`` (or read from a pcap)."""
    from scapy.sendrecv import sniff

    kwargs: dict[str, Any] = {"store": True}
    if offline:
        kwargs["offline"] = offline
    else:
        kwargs.update(iface=iface, timeout=seconds)
    packets = sniff(**kwargs)
    found = [b for b in (beacon_to_bss(p) for p in packets) if b is not None]
    log.debug("%d beacons from %s", len(found), offline or iface)
    return merge_scans([found])
