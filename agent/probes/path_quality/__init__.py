"""Probe ``path_quality``: RTT, jitter, loss and outages to the education network's nodes."""
