"""Every registered probe resolves, and its sample config loads and is the example's."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import config, example
from agent.probes import REGISTRY, probe_class


def test_the_example_config_is_built_from_the_samples() -> None:
    assert example.EXAMPLE.read_text(encoding="utf-8") == example.build(), \
        "configs/agent.example.toml is stale: run python -m agent.example"


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_probe_resolves_and_its_sample_loads(name: str, tmp_path: Path) -> None:
    cls = probe_class(name)
    assert cls.name == name
    sample = example.probe_sample(name)
    assert sample.lstrip().startswith(f"[probes.{name}]")
    path = tmp_path / "agent.toml"
    path.write_text(example.agent_sample() + "\n" + sample.replace(
        "enabled = false", "enabled = true"), encoding="utf-8")
    cfg = config.load(path)
    assert [p.name for p in cfg.probes] == [name]
