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
WORDS = {
    "en": {"all": "all checks passed", "some": "{n} check(s) failed: fix the first ✘ first",
           "fix": "what to do"},
    "zh": {"all": "全部检查通过", "some": "{n} 项检查未通过：请先处理第一个 ✘",
           "fix": "处理办法"},
}


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
        if check.fix and check.ok is not True:
            lines.append(f"    → {words['fix']}: {check.fix}")
    failed = sum(1 for c in found if c.ok is False)
    lines.append(words["some"].format(n=failed) if failed else words["all"])
    return "\n".join(lines)
