"""What ``status`` prints: the check titles in English and Chinese, ✔/✘ lines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

TITLES: dict[str, tuple[str, str]] = {
    "config": ("config valid", "配置有效"),
    "extra": ("probe packages installed", "探针所需软件包已安装"),
    "caps": ("probe privileges", "探针所需权限"),
    "state_dir": ("state directory writable", "状态目录可写"),
    "dns": ("broker name resolves", "代理服务器域名解析"),
    "tcp": ("broker port reachable", "代理服务器端口可达"),
    "tls": ("broker TLS certificate", "代理服务器 TLS 证书"),
    "login": ("broker login", "代理服务器登录"),
    "acl": ("publish on this school's topic", "在本校主题上发布"),
    "receipt": ("collector stores readings", "采集端存储读数"),
    "clock": ("clock agrees with the collector", "本机时钟与采集端一致"),
    "spool": ("spool", "本地缓存"),
    "daemon": ("daemon's last publish and receipt", "守护进程最近一次发布与回执"),
}
# Remedies in Chinese by code; English ones come with each check.
FIXES_ZH: dict[str, str] = {
    "config": "修改所指出的行，然后运行 schoolnet-agent check-config -c {path}",
    "extra": "安装所需软件包：{cmd}",
    "caps": "以 schoolnet-agent 服务（其 unit 授予所需权限）或 root 身份运行",
    "state_dir": ("以服务所用的用户运行（sudo -u schoolnet-agent schoolnet-agent status …），"
                  "或将 [agent] state_dir 指向本用户可写的目录"),
    "disk_full": "释放磁盘空间：代理服务器不可达时读数缓存在这里",
    "dns": "检查 [mqtt] host 的拼写和本网关的 DNS 设置",
    "refused": "{where} 上没有代理服务器在监听：检查 [mqtt] host 和 port",
    "timeout": "防火墙可能丢弃了流量：确认本网关可以访问 {where}",
    "unreachable": "检查本网关的默认路由和上行链路",
    "tls_verify": ("将 [mqtt] ca_file 设为网络中心提供的 CA 证书；若主机名不符，"
                   "[mqtt] host 须为证书中的名称"),
    "tls": "该端口可能不是 TLS 端口：tls = true 时用 8883，tls = false 时用 1883",
    "auth": "检查 [mqtt] username 和 password（或客户端证书）",
    "acl": "该账号只能在本校主题下发布：使 [school] 学校编号和行政区划代码与网络中心发放的账号一致",
    "unknown_school": "学校编号不在县级名录中：请县网络中心将 {school}（{region}）加入名录",
    "region_mismatch": ("名录中 {school} 的行政区划代码与本配置（{region}）不一致：修改 [school] "
                        "province/city/county，或请县网络中心更正名录"),
    "ts_future": "本机时钟快于采集端：启用 NTP 时间同步（timedatectl set-ntp true）",
    "ts_past": "读数过旧（本机时钟偏慢或缓存过久）：启用 NTP 时间同步",
    "no_receipt": "代理服务器已接收读数但没有采集端回执：请询问网络中心采集端是否在运行",
    "clock": "启用 NTP 时间同步：timedatectl set-ntp true",
    "spool_stale": "读数未能发出：先处理上面的代理服务器检查，或查看 journalctl -u schoolnet-agent",
    "no_daemon": "启动守护进程：systemctl enable --now schoolnet-agent",
}
WORDS = {
    "en": {"all": "all checks passed", "some": "{n} check(s) failed: fix the first ✘ first",
           "fix": "what to do"},
    "zh": {"all": "全部检查通过", "some": "{n} 项检查未通过：请先处理第一个 ✘",
           "fix": "处理办法"},
}


class _Particulars(dict[str, str]):
    """A remedy's particulars; one a check did not give shows as "?", never an error."""

    def __missing__(self, key: str) -> str:
        return "?"


def language(chosen: str | None, env: Mapping[str, str]) -> str:
    """--lang, else the locale (LC_ALL, LC_MESSAGES, LANG, as gettext reads them)."""
    if chosen:
        return chosen
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    return "en"


def render(found: Sequence[Any], path: str, lang: str, encoding: str) -> str:
    marks = ("✔", "✘", "–")
    if "utf" not in encoding.lower():
        marks = ("OK  ", "FAIL", "--  ")  # a terminal that cannot show the symbols
    words = WORDS[lang]
    index = 1 if lang == "zh" else 0
    lines = [f"schoolnet-agent status: {path}"]
    for check in found:
        mark = marks[2] if check.ok is None else marks[0] if check.ok else marks[1]
        title = TITLES[check.key][index]
        detail = check.detail.replace("\n", "\n      ")
        lines.append(f"{mark} {title}" + (f": {detail}" if detail else ""))
        fix = check.fix
        if lang == "zh" and check.code in FIXES_ZH:
            fix = FIXES_ZH[check.code].format_map(_Particulars(check.args))
        if fix and check.ok is not True:
            lines.append(f"    → {words['fix']}: {fix}")
    failed = sum(1 for c in found if c.ok is False)
    lines.append(words["some"].format(n=failed) if failed else words["all"])
    return "\n".join(lines)
