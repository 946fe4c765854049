"""School types, as the registry, the agent's config and the targets name them."""

from __future__ import annotations

SCHOOL_TYPES = ("primary", "junior", "senior", "nine_year", "twelve_year", "vocational",
                "teaching_point", "special")
