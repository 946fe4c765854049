"""The ipv6 probe's config: the shipped example loads, and mistakes name file, line and key.

That the example's block is the package's ``sample.toml`` is tests/test_probe_samples.py's job.

Loading never touches the network, so these tests run on the host itself.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from agent import config
from agent.contract.errors import ConfigError
from agent.probes import ProbeContext
from agent.probes.ipv6.probe import Ipv6
from tests.support import AGENT_HEAD

REPO = Path(__file__).resolve().parent.parent
HEAD = AGENT_HEAD + "\n"



def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(HEAD + textwrap.dedent(body))
    return path


def test_example_config_loads_the_ipv6_sample() -> None:
    cfg = config.load(REPO / "configs" / "agent.example.toml")
    (probe,) = [p for p in cfg.probes if p.name == "ipv6"]
    assert probe.cls is Ipv6 and probe.interval == 1800
    assert probe.opts.lan_interface == "br-lan"
    targets = probe.opts.targets
    assert targets["school_site"].role == "school_site"
    assert targets["national"].url == "https://basic.smartedu.cn/"


def test_defaults_and_the_built_in_national_target(tmp_path: Path) -> None:
    cfg = config.load(_write(tmp_path, "[probes.ipv6]\n"))
    (probe,) = cfg.probes
    assert probe.timeout == Ipv6.default_timeout and probe.opts.connect_attempts == 3
    instance = Ipv6(probe.opts, ProbeContext(cfg.identity, "primary", tmp_path))
    (target,) = instance.targets
    assert (target.name, target.host, target.port, target.https) == \
        ("national", "basic.smartedu.cn", 443, True)


def test_target_url_port_and_role(tmp_path: Path) -> None:
    cfg = config.load(_write(tmp_path, """\
        [probes.ipv6.targets.site]
        url = "http://www.school.edu.cn:8080/index.html?x=1"
        role = "school_site"
        """))
    instance = Ipv6(cfg.probes[0].opts, ProbeContext(cfg.identity, "primary", tmp_path))
    (site,) = instance.targets
    assert (site.port, site.path, site.https, site.http) == (8080, "/index.html?x=1", False, True)


@pytest.mark.parametrize(("body", "key", "line", "words"), [
    ("[probes.ipv6]\nlan_interfase = \"br-lan\"\n", "probes.ipv6.lan_interfase", 11,
     "did you mean 'lan_interface'"),
    ("[probes.ipv6]\nresolvers = [\"dns.example\"]\n", "probes.ipv6.resolvers", 11,
     "IP addresses"),
    ("[probes.ipv6]\nra_wait_seconds = 0\n", "probes.ipv6.ra_wait_seconds", 11, "between"),
    ("[probes.ipv6.targets.national]\nurl = \"ftp://x.cn/\"\n",
     "probes.ipv6.targets.national.url", 11, "http"),
    ("[probes.ipv6.targets.national]\nurl = \"https://x.cn/\"\nrole = \"cdn\"\n",
     "probes.ipv6.targets.national.role", 12, "one of"),
])
def test_mistakes_name_file_line_and_key(tmp_path: Path, body: str, key: str, line: int,
                                         words: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.load(_write(tmp_path, body))
    assert err.value.key == key and err.value.line == line
    assert words in err.value.message and str(tmp_path) in str(err.value)
