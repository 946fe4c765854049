"""The national tier: roll-ups forwarded from the provinces, decoded strictly and stored."""
