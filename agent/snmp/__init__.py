"""SNMP for the probes: a device table's schema and value (``target``), the
client probes call (``client``), and the pysnmp adapter behind it
(``pysnmp_adapter``), which alone imports pysnmp."""
