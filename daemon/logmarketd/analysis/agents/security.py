"""Security Guardian: authentication attacks (brute force per address, user enumeration,
failures followed by a success), web attacks in access logs, 4xx probing bursts, leaked
secrets, vulnerable dependencies, TLS failures, privilege escalation attempts, and attempts
to instruct an AI through log content (a low finding that never changes a price).
"""

from __future__ import annotations

import re
from collections import defaultdict
from urllib.parse import unquote_plus

from logmarketd.analysis.agents.access import requests
from logmarketd.analysis.agents.base import Context, Finding
from logmarketd.analysis.agents.quality import SECURITY_FLAG, compiler_warning
from logmarketd.analysis.agents.webrules import RULES

__all__ = [
    "ai_instructions",
    "auth_attacks",
    "compiler_security_warnings",
    "privilege_escalation",
    "probing_bursts",
    "tls_errors",
    "vulnerable_dependencies",
    "web_attacks",
]

_UP = {"low": "medium", "medium": "high", "high": "critical", "critical": "critical"}


def _f(
    title: str,
    sev: str,
    key: str,
    lines: list[int],
    loc: str | None,
    detail: str,
    fix: str,
    count: int = 1,
) -> Finding:
    return Finding(
        kind="security", title=title, severity=sev, key=key, lines=lines, location=loc,  # type: ignore[arg-type]
        detail=detail, fix=fix, count=count, evidence_lines=lines[:3],
    )  # fmt: skip


def _decode(target: str) -> str:
    # twice: attackers double-encode (%252e%252e) to slip past one decoding
    return unquote_plus(unquote_plus(target))


def web_attacks(ctx: Context) -> list[Finding]:
    """Web attacks in access logs per (rule, address), escalated when answered 2xx."""
    # (rule, ip) -> (line, status, what matched: the decoded target or the user agent)
    hits: dict[tuple[str, str], list[tuple[int, int, str]]] = defaultdict(list)
    for r in requests(ctx):
        if r.ip in ctx.config.allow_addresses:
            continue
        target = _decode(r.target)
        line = ctx.lines[r.index]
        fields = {"target": target, "ua": r.ua, "line": line}
        lowered = {k: v.lower() for k, v in fields.items()}
        for rule in RULES:
            text = fields[rule.field]
            low = lowered[rule.field]
            if text and any(nd in low for nd in rule.needles) and rule.pattern.search(text):
                hits[(rule.id, r.ip)].append((r.index, r.status, text))
    by_id = {r.id: r for r in RULES}
    out = []
    for (rid, ip), events in hits.items():
        rule = by_id[rid]
        idx = [e[0] for e in events]
        ok = [e for e in events if 200 <= e[1] < 300]
        sev = _UP[rule.severity] if ok and rid != "scanner" else rule.severity
        detail = f"{len(events)} request(s) from {ip} matching {rule.threat}"
        if ok:
            detail += (
                f"; {len(ok)} answered with 2xx, so the attack may have reached the application"
            )
        detail += ": " + _examples(ok + [e for e in events if e not in ok])
        out.append(
            _f(f"{rule.threat} from {ip}" + (" (answered 2xx)" if ok else ""), sev, f"web:{rid}:{ip}", idx, ip,
               detail + ".", rule.mitigation, count=len(events))
        )  # fmt: skip
        if ok:
            out[-1].evidence_lines = [ok[0][0], *[i for i in idx if i != ok[0][0]][:2]]
    return out


def _examples(events: list[tuple[int, int, str]], most: int = 3) -> str:
    """The first distinct requests (or user agents) an attack finding stands on, with the
    status each was answered with: what a reader checks first."""
    shown: dict[str, int] = {}
    for _, status, what in events:
        if len(shown) == most:
            break
        shown.setdefault(what[:120], status)
    more = len({e[2][:120] for e in events}) - len(shown)
    return ", ".join(f"{w} ({st})" for w, st in shown.items()) + (
        f" and {more} more" if more > 0 else ""
    )


def probing_bursts(ctx: Context) -> list[Finding]:
    """Addresses collecting many 4xx on many distinct paths (probing)."""
    per: dict[str, list[tuple[int, str]]] = defaultdict(list)
    total: dict[str, int] = defaultdict(int)
    for r in requests(ctx):
        total[r.ip] += 1
        if 400 <= r.status < 500 and r.status != 429:
            per[r.ip].append((r.index, r.target.split("?", 1)[0]))
    out = []
    for ip, events in per.items():
        paths = {p for _, p in events}
        if (
            ip in ctx.config.allow_addresses
            or len(events) < ctx.config.probe_4xx_burst
            or len(paths) < ctx.config.probe_4xx_burst // 2
        ):
            continue
        idx = [i for i, _ in events]
        out.append(
            _f(f"4xx probing burst from {ip}: {len(events)} errors on {len(paths)} paths", "medium", f"probe:{ip}", idx, ip,
               f"{ip} requested {len(paths)} distinct missing or forbidden paths ({len(events)} of its {total[ip]} requests).",
               "Rate-limit or block the address; check that none of the probed paths exist.", count=len(events))
        )  # fmt: skip
    return out


_FAIL = re.compile(
    r"Failed (?:password|publickey|keyboard-interactive/pam|none) for (?:invalid user )?(?P<user>\S*) from (?P<ip>[\d.:a-fA-F]+)"
    r"|Invalid user (?P<iuser>\S*) from (?P<iip>[\d.:a-fA-F]+)"
    r"|authentication failure;.*rhost=(?P<rip>[\w.:-]+)(?:\s+user=(?P<ruser>\S+))?"
    r"|(?:[Ll]ogin|[Aa]uthentication|[Ss]ign[- ]?in) failed for (?:user )?'?(?P<wuser>[\w.@-]+)'? from (?P<wip>[\d.:a-fA-F]+)"
)
_OK = re.compile(
    r"Accepted (?:password|publickey|keyboard-interactive/pam) for (?P<user>\S+) from (?P<ip>[\d.:a-fA-F]+)"
)


def auth_attacks(ctx: Context) -> list[Finding]:
    """Failed logins per address: brute force, user enumeration, and failures then success."""
    fails: dict[str, list[int]] = defaultdict(list)
    pam: dict[str, list[int]] = defaultdict(list)  # PAM repeats sshd's own failure lines
    users: dict[str, set[str]] = defaultdict(set)
    invalid: dict[str, set[str]] = defaultdict(set)
    out: list[Finding] = []
    for n in ctx.lines_with_ci("fail", "invalid user", "accepted "):
        line = ctx.lines[n]
        if m := _FAIL.search(line):
            ip = m.group("ip") or m.group("iip") or m.group("rip") or m.group("wip")
            user = (
                m.group("user") or m.group("iuser") or m.group("ruser") or m.group("wuser") or "?"
            )
            if ip in ctx.config.allow_addresses:
                continue
            if m.group("iuser") is not None or "invalid user" in line:
                invalid[ip].add(user)
            if m.group("rip") is not None:
                pam[ip].append(n)
            elif m.group("iuser") is None:  # "Invalid user" precedes its own "Failed password" line
                fails[ip].append(n)
            users[ip].add(user)
        elif (ok := _OK.search(line)) and (fails.get(ok.group("ip")) or pam.get(ok.group("ip"))):
            ip, user = ok.group("ip"), ok.group("user")
            before = max(fails[ip], pam[ip], key=len)
            if len(before) >= 3:
                out.append(
                    _f(f"login succeeded for '{user}' from {ip} after {len(before)} failed attempts", "critical",
                       f"auth-success:{ip}:{user}", [*before, n], ip,
                       f"{ip} failed {len(before)} times (users: {', '.join(sorted(users[ip])[:8])}) and then logged in as {user}: "
                       "a brute force that may have succeeded.",
                       f"Treat the '{user}' session from {ip} as compromised: kill it, rotate credentials, check what it did; "
                       "disable password logins and add fail2ban.", count=len(before) + 1)
                )  # fmt: skip
                out[-1].evidence_lines = [before[0], before[-1], n]
    for ip in dict.fromkeys([*fails, *pam]):  # in log order: a set's order changes per process
        idx = max(fails[ip], pam[ip], key=len)
        if len(idx) >= ctx.config.brute_force_failures:
            out.append(
                _f(f"brute-force login: {len(idx)} failed logins from {ip}", "high", f"auth-brute:{ip}", idx, ip,
                   f"{len(idx)} failed logins from {ip} for {len(users[ip])} user name(s).",
                   f"Block {ip}; disable password authentication; rate-limit logins (fail2ban).", count=len(idx))
            )  # fmt: skip
    for ip, names in invalid.items():
        if len(names) >= ctx.config.enumeration_users:
            idx = sorted(n for n in fails.get(ip, []))
            out.append(
                _f(f"user enumeration from {ip}: {len(names)} invalid user names", "medium", f"auth-enum:{ip}", idx or [0], ip,
                   f"{ip} tried non-existent accounts: {', '.join(sorted(names)[:10])}.",
                   f"Block {ip}; make sure default/service accounts cannot log in remotely.", count=len(names))
            )  # fmt: skip
    return out


_SUDO = re.compile(
    r"sudo(?:\[\d+\])?: +(?P<u>\S+) : (?:\d+ incorrect password attempts?|user NOT in sudoers|command not allowed)"
    r"|pam_unix\(su(?:do)?(?:-l)?:auth\): authentication failure;.*?(?:ruser=(?P<ru>\S*))"
    r"|FAILED SU \(to (?P<to>\S+)\) (?P<su>\S+)"
)


def privilege_escalation(ctx: Context) -> list[Finding]:
    """Failed sudo/su attempts per user."""
    per: dict[str, list[int]] = defaultdict(list)
    # sudo's own lines name it; su's and PAM's say "fail" (a scan the auth detector made)
    for n in ctx.lines_with_ci("sudo", "fail"):
        if m := _SUDO.search(ctx.lines[n]):
            per[m.group("u") or m.group("ru") or m.group("su") or "?"].append(n)
    return [
        _f(f"privilege escalation attempt by '{u}' ({len(idx)} failed sudo/su)", "high", f"sudo:{u}", idx, f"user {u}",
           f"'{u}' failed to gain root {len(idx)} time(s).",
           f"Confirm with the owner of '{u}' that this was them; otherwise lock the account.", count=len(idx))
        for u, idx in per.items()
    ]  # fmt: skip


_TLS = re.compile(
    r"(SSL certificate problem: [^.\n]+|CERTIFICATE_VERIFY_FAILED[^\n]*?(?:: (?P<why>[^(\n>]+))?|certificate has expired|"
    r"x509: certificate[^\n]*|PKIX path building failed|unable to get local issuer certificate|SSL routines:[^\n]*|"
    r"handshake failure|tls: [\w ]*(?:bad certificate|handshake failure|unknown certificate authority)|"
    # (a self-signed certificate is a failure only where something refused it: "generating a
    # key pair and self-signed certificate" is no finding)
    r"(?:error|failed|rejected|problem)[:\s][^\n]{0,80}?self[- ]signed certificate|self[- ]signed certificate in certificate chain|"
    r"DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|"
    r"verify error:num=\d+:[^\n]+|InsecureRequestWarning|Unverified HTTPS request)",
    re.I,
)


_TLS_KINDS = (
    (re.compile(r"self[- ]signed", re.I), "self-signed certificate"),
    (re.compile(r"expired", re.I), "certificate expired"),
    (
        re.compile(r"local issuer|unknown (?:certificate )?authority|PKIX path|unknown ca", re.I),
        "untrusted certificate authority",
    ),
    (
        re.compile(r"hostname mismatch|doesn't match|not valid for|does not match", re.I),
        "certificate name mismatch",
    ),
    (
        re.compile(r"(?:key|md|digest) too (?:weak|small)", re.I),
        "weak certificate key or signature",
    ),
    (
        re.compile(r"InsecureRequestWarning|Unverified HTTPS", re.I),
        "certificate verification turned off (unverified HTTPS)",
    ),
)
_GENERIC_TLS = "certificate verification failed"


def compiler_security_warnings(ctx: Context) -> list[Finding]:
    """GCC/Clang warnings about memory or format-string safety (-Wformat-security,
    -Wstringop-overflow, -Warray-bounds, ...), one finding per flag with the first place."""
    out: dict[str, Finding] = {}
    for n in ctx.lines_with("warning: "):
        m = compiler_warning(ctx.lines[n])
        flag = (m.group(6) or "").split(",")[0] if m else ""
        if not SECURITY_FLAG.match(flag) or m is None:
            continue
        if flag in out:
            out[flag].count += 1
            out[flag].lines.append(n)
            continue
        loc = f"{m.group(1)}:{m.group(2)}"
        out[flag] = _f(
            f"compiler security warning {flag}: {m.group(5)}", "high", f"ccsec:{flag}", [n, n + 1], loc,
            f"The compiler warns of a memory or format-string safety bug at {loc} ({flag}).",
            f"Fix the code at {loc}; build with {flag} as an error (-Werror={flag[2:]}) and with _FORTIFY_SOURCE.",
        )  # fmt: skip
    return list(out.values())


def tls_errors(ctx: Context) -> list[Finding]:
    """TLS/certificate verification failures per kind, with the host when known."""
    groups: dict[str, list[int]] = defaultdict(list)
    for n in ctx.lines_with_ci(
        "ssl",
        "certificate",
        "x509",
        "pkix",
        "handshake",
        "tls: ",
        "verify error",
        "unverified https",
        "insecurerequest",
    ):
        line = ctx.lines[n]
        if _TLS.search(line):
            kind = next((name for rx, name in _TLS_KINDS if rx.search(line)), _GENERIC_TLS)
            groups[kind].append(n)
    if len(groups) > 1 and _GENERIC_TLS in groups:
        # the same failure, said without its reason (curl's and OpenSSL's echo lines)
        rest = groups.pop(_GENERIC_TLS)
        next(iter(groups.values())).extend(rest)
    out = []
    for kind, idx in groups.items():
        host = None
        for k in idx:
            hm = re.search(r"https://([\w.-]+(?::\d+)?)", ctx.lines[k]) or (
                re.search(r"https://([\w.-]+(?::\d+)?)", ctx.lines[k - 1]) if k else None
            )
            if hm:
                host = hm.group(1)
                break
        out.append(
            _f(f"TLS verification failed: {kind}" + (f" ({host})" if host else ""), "medium", f"tls:{kind}", idx, host,
               f"{len(idx)} TLS failure(s): clients refuse the peer's certificate, or someone is intercepting traffic.",
               "Serve a certificate from a trusted CA with the right name; never disable verification.", count=len(idx))
        )  # fmt: skip
    return out


_CVE = re.compile(
    r"\b(CVE-\d{4}-\d{4,7}|GHSA(?:-[23456789cfghjmpqrvwx]{4}){3}|PYSEC-\d{4}-\d+|RUSTSEC-\d{4}-\d{4})\b"
)
_NPM_PKG = re.compile(r"^(\S+)\s+([<>=^~*\d][^\s]*)$")
_NPM_SEV = re.compile(r"^Severity: (\w+)")
_PIPAUDIT = re.compile(r"^(\S+)\s+(\S+)\s+((?:PYSEC|GHSA|CVE)-\S+)\s*(\S*)")


def vulnerable_dependencies(ctx: Context) -> list[Finding]:
    """npm audit / pip-audit reports per package; other scanners by CVE id."""
    pkgs: dict[str, dict[str, object]] = {}
    for n in ctx.lines_with(
        "Severity: "
    ):  # npm audit text report: "pkg  <range>\nSeverity: high\n<title> - <url>"
        sm = _NPM_SEV.match(ctx.lines[n].strip())
        pm = _NPM_PKG.match(ctx.lines[n - 1].strip()) if n else None
        if sm and pm:
            ids = _CVE.findall(" ".join(ctx.lines[n : n + 4]))
            title = ctx.lines[n + 1].strip() if n + 1 < len(ctx.lines) else ""
            pkgs[pm.group(1)] = {
                "sev": sm.group(1).lower(),
                "ids": ids,
                "lines": [n - 1, n, n + 1],
                "what": title,
                "ver": pm.group(2),
            }
    for n in ctx.lines_with("PYSEC-", "GHSA-", "CVE-"):
        if pa := _PIPAUDIT.match(ctx.lines[n]):
            name = pa.group(1)
            entry = pkgs.setdefault(
                name, {"sev": "high", "ids": [], "lines": [], "what": "", "ver": pa.group(2)}
            )
            entry["ids"].append(pa.group(3))  # type: ignore[attr-defined]
            entry["lines"].append(n)  # type: ignore[attr-defined]
            if pa.group(4):
                entry["fixed"] = pa.group(4)
    out = []
    for name, e in pkgs.items():
        sev = {"moderate": "medium", "low": "low", "high": "high", "critical": "critical"}.get(
            str(e["sev"]), "high"
        )
        ids = sorted(set(e["ids"]))  # type: ignore[call-overload]
        fix = (
            f"Upgrade {name}"
            + (f" to {e['fixed']}" if e.get("fixed") else " to a patched version")
            + " (npm audit fix / pip install -U)."
        )
        out.append(
            _f(f"vulnerable dependency {name} {e['ver']}" + (f": {', '.join(ids[:5])}" if ids else f": {e['what']}"),
               sev, f"vuln:{name}:{','.join(ids)}", list(e["lines"]), f"dependency {name}",  # type: ignore[call-overload]
               f"{name} {e['ver']} has known vulnerabilities {', '.join(ids) or e['what']}.", fix, count=max(1, len(ids)))
        )  # fmt: skip
    if not out:
        # other scanners (trivy, snyk, grype, OWASP dependency-check): CVE ids on lines
        cves: dict[str, list[int]] = defaultdict(list)
        for n in ctx.lines_with("CVE-"):
            for cve in _CVE.findall(ctx.lines[n]):
                cves[cve].append(n)
        for cve, idx in cves.items():
            sev = "critical" if re.search(r"CRITICAL|[Cc]ritical", ctx.lines[idx[0]]) else "high"
            out.append(
                _f(f"known vulnerability {cve} reported", sev, f"cve:{cve}", idx, cve,
                   f"{cve} is reported for a component of this build.", f"Upgrade the affected component past {cve}.", count=len(idx))
            )  # fmt: skip
    return out


_AI = re.compile(
    r"\b(?:ignore|disregard|forget)\b.{0,20}\b(?:previous|prior|above|all|earlier)\b.{0,20}\b(?:instructions?|prompts?|rules)\b"
    r"|\b(?:you are now|act as|new instructions?:|system prompt|as an ai\b)"
    r"|\b(?:set|rate|score|pay)\b.{0,30}\b(?:value ?score|quality|payment|price|this log)\b.{0,20}\b(?:100|maximum|max|highest)\b",
    re.I,
)


def ai_instructions(ctx: Context) -> list[Finding]:
    """Log text addressing an AI analyser: a low finding that never moves a score."""
    idx = [
        n
        for n in ctx.lines_with_ci(
            "instruction", "prompt", "you are now", "valuescore", "value score", "this log"
        )
        if _AI.search(ctx.lines[n])
    ]
    if not idx:
        return []
    return [
        _f(f"log content tries to instruct an AI analyser ({len(idx)} line(s))", "low", "ai-instruction", idx, f"line {idx[0] + 1}",
           "Text in the log addresses an AI model (prompt injection). It was treated as data: it changes no score and no price.",
           "Find who controls this input (e.g. a User-Agent) and treat it as hostile.", count=len(idx))
    ]  # fmt: skip
