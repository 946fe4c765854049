"""Parse the text of ``iw dev IF scan``.

``iw`` has no stable machine format, so the parser reads only the few lines
coverage needs and ignores the rest. It takes both indents seen in recorded
output: real ``iw`` indents with tabs, while copies that went through an
editor use spaces; only "starts with ``BSS``" versus "indented" matters here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.devicetext import device_text

# The BSSID may be partly masked ("xx:xx:...") in shared captures.
_BSS = re.compile(r"^BSS (?P<bssid>[0-9A-Fa-fx]{2}(?::[0-9A-Fa-fx]{2}){5})\s*"
                  r"(?:\(on (?P<dev>[^)]+)\))?(?P<assoc>.*-- associated)?")
_FREQ = re.compile(r"^freq:\s*(?P<mhz>\d+(?:\.\d+)?)")
_SIGNAL = re.compile(r"^signal:\s*(?P<dbm>-?\d+(?:\.\d+)?)\s*dBm")
_SSID = re.compile(r"^SSID:(?: (?P<ssid>.*))?$")
_DS_CHANNEL = re.compile(r"^DS Parameter set: channel (?P<ch>\d+)")
_PRIMARY = re.compile(r"^\* primary channel: (?P<ch>\d+)")
_STATIONS = re.compile(r"^\* station count: (?P<n>\d+)")
_UTIL = re.compile(r"^\* channel utilisation: (?P<n>\d+)/255")
_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


@dataclass
class Bss:
    """One BSS (one radio's one SSID) as a scan saw it."""

    bssid: str
    freq_mhz: float | None = None
    signal_dbm: float | None = None
    ssid: str = ""
    hidden: bool = False
    channel: int | None = None
    station_count: int | None = None
    utilisation_share: float | None = None  # BSS Load channel utilisation, n/255
    associated: bool = False

    @property
    def band(self) -> str:
        if self.freq_mhz is None:
            return "unknown"
        if self.freq_mhz < 3000:
            return "2.4ghz"
        if self.freq_mhz < 5925:
            return "5ghz"
        return "6ghz"


def decode_ssid(escaped: str) -> tuple[str, bool]:
    """Turn ``iw``'s escaped SSID back into text; returns (ssid, hidden).

    ``iw`` prints printable ASCII as is and every other byte as ``\\xNN``, so
    a Chinese SSID arrives as its UTF-8 (or GBK) bytes escaped one by one.
    """
    raw = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(escaped):
        raw += escaped[pos:m.start()].encode("latin-1", "replace")
        raw.append(int(m.group(1), 16))
        pos = m.end()
    raw += escaped[pos:].encode("latin-1", "replace")
    return ssid_text(bytes(raw))


def ssid_text(raw: bytes) -> tuple[str, bool]:
    """An SSID's raw bytes as (text, hidden), however a scan got them.

    A hidden network sends an empty SSID or one made of NUL bytes. Text is
    decoded as devices send it (:func:`agent.devicetext.device_text`); an SSID
    is always meant as a name, so bytes valid in neither encoding keep
    replacement characters and the reading stays printable.
    """
    if not raw.strip(b"\x00"):
        return "", True
    decoded = device_text(raw)
    if decoded is not None:
        return decoded, False
    lossy = raw.decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "\ufffd" for c in lossy), False


def frequency_to_channel(mhz: float) -> int | None:
    """The IEEE channel number of a centre frequency (2.4, 5 and 6 GHz)."""
    f = int(mhz)
    if f == 2484:
        return 14
    if 2412 <= f < 2484:
        return (f - 2407) // 5
    if 5000 <= f < 5925:
        return (f - 5000) // 5
    if 5950 <= f <= 7125:
        return (f - 5950) // 5
    return None


def parse_scan(text: str) -> list[Bss]:
    """All BSSes in one ``iw dev IF scan`` output, in the order printed."""
    found: list[Bss] = []
    cur: Bss | None = None
    for raw_line in text.splitlines():
        if raw_line.startswith("BSS "):
            m = _BSS.match(raw_line)
            cur = None
            if m:
                cur = Bss(bssid=m.group("bssid").lower(), associated=bool(m.group("assoc")))
                found.append(cur)
            continue
        if cur is None:
            continue
        line = raw_line.strip()
        if m := _FREQ.match(line):
            cur.freq_mhz = float(m.group("mhz"))
        elif m := _SIGNAL.match(line):
            cur.signal_dbm = float(m.group("dbm"))
        elif m := _SSID.match(line):
            # Newer iw prints the SSID twice (beacon and probe response); the
            # first wins, later copies are the same network.
            if not cur.ssid and not cur.hidden:
                cur.ssid, cur.hidden = decode_ssid(m.group("ssid") or "")
        elif (m := _DS_CHANNEL.match(line)) or (m := _PRIMARY.match(line)):
            if cur.channel is None:
                cur.channel = int(m.group("ch"))
        elif m := _STATIONS.match(line):
            cur.station_count = int(m.group("n"))
        elif m := _UTIL.match(line):
            cur.utilisation_share = round(int(m.group("n")) / 255, 4)
    for bss in found:
        if bss.channel is None and bss.freq_mhz is not None:
            bss.channel = frequency_to_channel(bss.freq_mhz)
    return found


def merge_scans(scans: list[list[Bss]]) -> list[Bss]:
    """Combine repeated scans of one spot: the strongest sighting per BSSID and band.

    A dual-band AP may use one BSSID on both bands (seen in the field on some
    vendors), so the key is BSSID plus band, not BSSID alone.
    """
    best: dict[tuple[str, str], Bss] = {}
    for scan in scans:
        for bss in scan:
            key = (bss.bssid, bss.band)
            old = best.get(key)
            if old is None or (bss.signal_dbm or -999.0) > (old.signal_dbm or -999.0):
                best[key] = bss
    return list(best.values())
