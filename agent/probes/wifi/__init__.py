"""Probe ``wifi`` (无线校园): ``iw`` scans, controller polling and area coverage.

``probe`` combines the sources per area; ``areas`` and ``aps`` judge
coverage; ``controllers`` reads the vendors' AP tables over SNMP;
``iwscan``, ``scanner`` and ``beacons`` read the local radio; ``surveys``
keeps site surveys and ``survey`` is the ``schoolnet-agent survey`` command.
``sample.toml`` is the documented config block.

Nothing here imports pysnmp or scapy at module level: the controller pollers
and the beacon sniffer import them inside the functions that need them, so a
gateway that only scans with ``iw`` never loads either.
"""
