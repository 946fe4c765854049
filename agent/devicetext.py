"""Text from the raw bytes a network device sends: names, aliases, SSIDs.

Devices send names as bare octets with no declared encoding (an SNMP
OCTET STRING such as ifAlias or an AP name, an SSID in a beacon). In Chinese
schools two encodings occur: UTF-8 on current firmware, and GB 18030 (in
practice its GBK / GB 2312 subset) on older Chinese firmware and on SSIDs
that staff typed on a Chinese Windows PC.

UTF-8 is tried first because it is strict: GBK-encoded Chinese is almost
never valid UTF-8, so a GBK name fails and falls through. GB 18030 is the
other way round, it accepts most byte sequences: the UTF-8 bytes of 智慧校园
decode as GB 18030 to the printable nonsense 鏅烘収鏍″洯, so trying it first
would turn every correct UTF-8 name into wrong characters. A decoding
counts only when every character is printable; anything else is not text
(a MAC address or other binary in an OCTET STRING) and the caller decides
how to show it.
"""

from __future__ import annotations

# In the order tried; see the module docstring for why UTF-8 comes first.
ENCODINGS = ("utf-8", "gb18030")


def device_text(raw: bytes) -> str | None:
    """``raw`` as text (UTF-8, else GB 18030), or None when neither gives printable text."""
    for codec in ENCODINGS:
        try:
            decoded = raw.decode(codec)
        except UnicodeDecodeError:
            continue
        if decoded.isprintable():
            return decoded
    return None
