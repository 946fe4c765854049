"""Wireless coverage (无线校园): ``iw`` scans, controller polling and area coverage.

Nothing here imports pysnmp or scapy at module level: the controller pollers
and the beacon sniffer import them inside the functions that need them, so a
gateway that only scans with ``iw`` never loads either.
"""
