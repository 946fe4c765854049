"""Ingest: the transport (MQTT in) and the processing after it (validate, write, receipts)."""
