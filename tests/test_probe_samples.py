"""Every registered probe and controller vendor resolves, and its sample config loads.

The probes' samples together are the example config.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent import config, example
from agent.probes import REGISTRY, probe_class
from agent.probes.wifi.controllers import VENDORS, vendor_class


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


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_controller_vendor_resolves_and_its_sample_loads(vendor: str, tmp_path: Path) -> None:
    cls = vendor_class(vendor)
    assert cls.vendor == vendor and cls.generations and all(g.columns for g in cls.generations)
    path = tmp_path / "agent.toml"
    path.write_text(example.agent_sample() + "\n" + example.probe_sample("wifi") + "\n"
                    + f"[probes.wifi.controllers.{vendor}_sample]\n" + cls.sample,
                    encoding="utf-8")
    [probe] = config.load(path).probes
    controller = probe.opts.controllers[f"{vendor}_sample"]
    assert controller.vendor == vendor
    assert controller.target.host  # the sample names a device to poll
