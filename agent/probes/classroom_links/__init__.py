"""Probe ``classroom_links`` (百兆进班): classroom switch ports over SNMP.

``probe`` polls the switches, ``ifmib`` reads IF-MIB honestly, ``map`` holds
the config and matches ports to classrooms, ``report`` makes the readings;
``sample.toml`` is the documented config block. Importing this package
imports nothing else, so reading the sample never loads pysnmp.
"""
