"""H3C WX / Comware ACs (and HP/3Com-branded ones): the DOT11 APMT and ACMT MIBs on three arcs.

The same tables sit under three roots, tried newest first:
``25506.2.75`` (HH3C-DOT11-APMT-MIB), ``2011.10.2.75`` (H3C-DOT11-APMT-MIB,
older Comware) and ``43.45.1.10.2.75`` (A3COM-HUAWEI-DOT11-APMT-MIB). Under
a root R (columns from the MIB text):

- status table R.2.1.1.1 (index hh3cDot11APID, an OCTET STRING: length then
  bytes): 4 OperationStatus join(1) joinConfirm(2) download(3) config(4)
  run(5), 5 TemplateNameOfAP, 8 ConnectionType master(1) slave(2)
  notAvailable(3). It has no offline value: a disconnected AP leaves it.
- object table R.2.1.2.1 (index hh3cDot11APObjID, also a string; "APs in
  the running status" only): 7 CurrAPStationAssocCount, 8 CurrAPName.
- brief info table R.2.1.12.1 (index hh3cDot11BrfAPName, the AP name as a
  string): 18 BrfAPConnectType master(1) standBy(2) notAvailable(3), 21
  BrfAPStaAssocCount, 25 BrfAPOperationStatus run(1)/idle(2). Configured
  APs that are down are listed here as idle.
- idle list R.2.1.9.1 (index hh3cDot11APIdleTemplateName): APs configured
  but not connected; 2 serial id.
- radio table R.2.1.3.1 (index hh3cDot11CurAPID, a string, "a AP in
  running status", then hh3cDot11RadioID): 4 OperStatus (TruthValue,
  true(1)/false(2)), 5 Channel, 11 RadioModeSupport (bits a(1) b(2) g(4)
  gn(16) an(32), and ac(64) gac(128) from 2013 on), 25 OperStatusCM
  up(1)/down(2)/testing(3)/admindown(4) and 26 AirPrimChnlBusy (air time
  used on the primary channel, 0..100, 255 invalid) on newer firmware.
- radio association statistics R.2.2.8.1 (same index): 6
  RadioStaCurAssocSum, the stations on that radio now.
- scalars R.1.1.2.N (HH3C-DOT11-ACMT-MIB): 4 MasterAPCount (APs with a
  master tunnel to this AC, compared with the online count), 15
  ACBackupStatus active(1)/standby(2), 21 TotalAPconnected.

Columns as read in HH3C-DOT11-APMT-MIB revision 2021-06-18 (brief-info
table added 2018-06-04, V3.5), H3C-DOT11-APMT-MIB and
A3COM-HUAWEI-DOT11-APMT-MIB revision 2010-10-11 (radio table columns 1-23
and the association table are the same there). The MIB has no per-radio
noise an AP's radio rows could be joined with (HH3C-DOT11-RRM-MIB's channel
report is indexed by an element index nothing else uses), so noise_dbm is
left out on H3C.

Nothing in the MIB says the status and object tables share index values,
so rows are joined by AP name (template name or decoded index), never by
index. A radio row's CurAPID is looked up among both tables' ids, then
read as the AP's name; radios of an id that names no listed AP are left
out. A band comes from the radio's channel, else from its mode bits when
they name one band only. Only run serves clients. A slave connection
means this AC is the backup for that AP (HA pair): standby, not down; an
AC whose ACBackupStatus is standby is treated as a configured backup. The
MIB has no AP-group column: areas on H3C match by AP name or pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.probes.wifi.aps import OFFLINE, ONLINE, STANDBY, ApState
from agent.probes.wifi.controllers import (
    Columns,
    ControllerMib,
    Decoded,
    Generation,
    number,
    scalar,
    string_index,
    text,
)
from agent.probes.wifi.radios import Radio, band_of_channel, percent_share

ROOTS = (("hh3c", "1.3.6.1.4.1.25506.2.75"), ("h3c", "1.3.6.1.4.1.2011.10.2.75"),
         ("a3com", "1.3.6.1.4.1.43.45.1.10.2.75"))
RUN, BRIEF_RUN = 5, 1
SLAVE = 2  # ConnectionType slave(2); brief-info ConnectType standBy(2)
AC_STANDBY = 2
TRUE, OPER_UP = 1, 1  # TruthValue true(1); OperStatusCM up(1)
MODES_5GHZ = 1 | 32 | 64  # dot11a, dot11an, dot11ac
MODES_24GHZ = 2 | 4 | 16 | 128  # dot11b, dot11g, dot11gn, dot11gac


def _generation(name: str, root: str) -> Generation:
    return Generation(name, {
        "state": f"{root}.2.1.1.1.4",
        "template": f"{root}.2.1.1.1.5",
        "connection": f"{root}.2.1.1.1.8",
        "clients": f"{root}.2.1.2.1.7",
        "name": f"{root}.2.1.2.1.8",
        "brief_connection": f"{root}.2.1.12.1.18",
        "brief_clients": f"{root}.2.1.12.1.21",
        "brief_state": f"{root}.2.1.12.1.25",
        "idle_serial": f"{root}.2.1.9.1.2",
        "radio_oper": f"{root}.2.1.3.1.4",
        "radio_channel": f"{root}.2.1.3.1.5",
        "radio_modes": f"{root}.2.1.3.1.11",
        "radio_oper_cm": f"{root}.2.1.3.1.25",
        "radio_busy": f"{root}.2.1.3.1.26",
        "radio_clients": f"{root}.2.2.8.1.6",
        "ctl_online": f"{root}.1.1.2.4",
        "ha_status": f"{root}.1.1.2.15",
        "ctl_connected": f"{root}.1.1.2.21",
    }, ("state", "name", "brief_state", "idle_serial"))


@dataclass
class _Ap:
    online: bool = False
    slave: bool = False
    clients: int | None = None


class H3c(ControllerMib):
    vendor = "h3c"
    generations = tuple(_generation(name, root) for name, root in ROOTS)
    sample = """\
vendor = "h3c"              # WX / Comware ACs (HH3C-DOT11-APMT-MIB; older arcs too): no AP
host = "10.0.0.3"           # groups there, so areas match APs by name or pattern
version = "3"
user = "audit"
auth_key = "change-me-auth"
priv_key = "change-me-priv"
"""

    def decode(self, generation: Generation, cols: Columns, controller: str) -> Decoded:
        aps: dict[str, _Ap] = {}
        ids: dict[str, str] = {}  # status- or object-table index -> AP name

        def ap(name: str) -> _Ap:
            return aps.setdefault(name, _Ap())
        templates = cols.get("template", {})
        for index in set(cols.get("state", {})) | set(templates) | set(cols.get("connection", {})):
            name = text(templates.get(index)) or string_index(index)
            if not name:
                continue
            ids[index] = name
            row = ap(name)
            row.online |= number(cols.get("state", {}).get(index)) == RUN
            row.slave |= number(cols.get("connection", {}).get(index)) == SLAVE
        names = cols.get("name", {})
        for index in set(names) | set(cols.get("clients", {})):
            name = text(names.get(index)) or string_index(index)
            if not name:
                continue
            ids[index] = name
            row = ap(name)
            row.online = True  # the object table lists running APs only
            row.clients = number(cols.get("clients", {}).get(index))
        for index in (set(cols.get("brief_state", {})) | set(cols.get("brief_clients", {}))
                      | set(cols.get("brief_connection", {}))):
            name = string_index(index)
            if not name:
                continue
            row = ap(name)
            row.online |= number(cols.get("brief_state", {}).get(index)) == BRIEF_RUN
            row.slave |= number(cols.get("brief_connection", {}).get(index)) == SLAVE
            if row.clients is None:
                row.clients = number(cols.get("brief_clients", {}).get(index))
        for index in cols.get("idle_serial", {}):
            name = string_index(index)
            if name:
                ap(name)  # configured, not connected: down unless another table runs it
        radios = _radios(cols, ids)
        out = []
        for name, row in sorted(aps.items()):
            # A slave tunnel is this AC backing the AP up, whatever its state here.
            state = STANDBY if row.slave else ONLINE if row.online else OFFLINE
            out.append(ApState(name, state, "", row.clients if row.online else 0, controller,
                               radios=tuple(radios.get(name, ()))))
        ha = scalar(cols, "ha_status")
        # Master APs are the ones this AC serves, as our online count is.
        online = scalar(cols, "ctl_online")
        if online is None:
            online = scalar(cols, "ctl_connected")
        return Decoded(out, None if ha is None else ha == AC_STANDBY, None, online)


def _radios(cols: Columns, ids: dict[str, str]) -> dict[str, list[Radio]]:
    """hh3cDot11APRadioTable rows by AP name (index: CurAPID string . radio id)."""
    def col(role: str, index: str) -> int | None:
        return number(cols.get(role, {}).get(index))
    out: dict[str, list[Radio]] = {}
    for index in sorted(set(cols.get("radio_oper", {})) | set(cols.get("radio_oper_cm", {}))):
        parts = index.split(".")
        length = number(parts[0])
        if length is None or len(parts) != length + 2:
            continue
        ap_index, radio_id = ".".join(parts[:-1]), parts[-1]
        name = ids.get(ap_index) or string_index(ap_index)
        if not name:
            continue
        oper_cm, oper = col("radio_oper_cm", index), col("radio_oper", index)
        up = oper_cm == OPER_UP if oper_cm is not None else oper in (None, TRUE)
        channel = col("radio_channel", index)
        out.setdefault(name, []).append(Radio(
            radio_id, _band(channel, col("radio_modes", index)), up, channel,
            percent_share(col("radio_busy", index)), None, col("radio_clients", index)))
    return out


def _band(channel: int | None, modes: int | None) -> str:
    band = band_of_channel(channel)
    if band != "unknown" or not modes:
        return band
    if modes & MODES_5GHZ and not modes & MODES_24GHZ:
        return "5ghz"
    if modes & MODES_24GHZ and not modes & MODES_5GHZ:
        return "2.4ghz"
    return "unknown"
