"""Go panics (and fatal runtime errors) with their goroutine dump, and Rust panics with their
backtrace: the message and the first frame of the application's own code.
"""

from __future__ import annotations

import re

from logmarketd.analysis.agents.base import Context, Finding, mask
from logmarketd.analysis.agents.traces import _merge, _short

__all__ = ["go_data_races", "go_panics", "rust_panics"]


_GO_PANIC = re.compile(r"^(?:panic|fatal error): (.+?)(?: \[recovered\])?$")
_GO_FILE = re.compile(r"^\s+(\S+\.go):(\d+)(?: \+0x[0-9a-f]+)?$")
_GO_LIB = ("/usr/local/go/", "/usr/lib/go", "/go/pkg/mod/", "/src/runtime/", "/pkg/mod/", "GOROOT")


def go_panics(ctx: Context) -> list[Finding]:
    """Go panics and fatal runtime errors with the first application frame."""
    found: dict[str, Finding] = {}
    for n in ctx.lines_with_ci("panic", "fatal"):
        if n in ctx.claimed:
            continue
        m = _GO_PANIC.match(ctx.lines[n].strip())
        if not m:
            continue
        # a goroutine dump must follow at once, otherwise this is not a Go panic
        if not any(
            ctx.lines[k].startswith("goroutine ") for k in range(n + 1, min(n + 6, len(ctx.lines)))
        ):
            continue
        j, covered = n + 1, [n]
        frames: list[tuple[str, int, str, int]] = []
        saw_goroutine = False
        while j < len(ctx.lines) and j < n + 300:
            line = ctx.lines[j]
            if line.startswith("goroutine "):
                saw_goroutine = True
                if frames:
                    break  # only the panicking goroutine matters
            fm = _GO_FILE.match(line)
            if fm and not any(s in fm.group(1) for s in _GO_LIB):
                frames.append((fm.group(1), int(fm.group(2)), ctx.lines[j - 1].strip(), j))
            if line.startswith("exit status"):
                covered.append(j)
                break
            covered.append(j)
            j += 1
        if not saw_goroutine:
            continue
        msg = m.group(1)
        file, line_no, func, fidx = frames[0] if frames else ("?", 0, "?", n)
        func = re.sub(r"\((?:\.\.\.|[^()]*)\)$", "", func)
        ctx.claimed.update(covered)
        f = Finding(
            kind="error",
            title=f"panic: {msg}",
            severity="critical",
            key=f"go:{re.sub(r'[0-9]+', 'N', msg)}:{_short(file)}:{line_no}",
            lines=covered,
            location=f"{file}:{line_no} in {func}",
            detail="The Go program panicked and exited.",
            root_cause=f"{msg} in {func} at {_short(file)}:{line_no}",
            fix=f"Check bounds / nil before the access in {func} ({_short(file)}:{line_no}).",
            evidence_lines=[n, fidx - 1, fidx],
        )
        _merge(found, f)
    return list(found.values())


_RACE_AT = re.compile(r"^\s+(\S+\.go):(\d+)(?: \+0x[0-9a-f]+)?$")


def go_data_races(ctx: Context) -> list[Finding]:
    """The Go race detector's report: the racing access and where it happens."""
    found: dict[str, Finding] = {}
    for n in ctx.lines_with("WARNING: DATA RACE"):
        covered, loc, func, access = [n], None, "", ""
        for k in range(n + 1, min(n + 60, len(ctx.lines))):
            line = ctx.lines[k]
            covered.append(k)
            if line.startswith("=================="):
                break
            if not access and line.strip():
                access = line.strip().rstrip(":")
            fm = _RACE_AT.match(line)
            if fm and loc is None and not any(s in fm.group(1) for s in _GO_LIB):
                loc, func = f"{fm.group(1)}:{fm.group(2)}", ctx.lines[k - 1].strip()
        ctx.claimed.update(covered)
        f = Finding(
            kind="error", title=f"data race: {mask(access)}" + (f" in {func}" if func else ""),
            severity="high", key=f"go-race:{_short(loc or '?')}", lines=covered, location=loc,
            detail="Two goroutines access the same memory without synchronisation: results are undefined.",
            root_cause=f"unsynchronised access in {func or 'a goroutine'}",
            fix=f"Guard the shared variable at {loc} with a mutex or a channel." if loc else None,
            evidence_lines=covered[:3],
        )  # fmt: skip
        _merge(found, f)
    return list(found.values())


_RUST_PANIC = re.compile(
    r"thread '([^']+)'(?: \(\d+\))? panicked at (?:'(.*)', )?([^\s:']+):(\d+):(\d+):?$"
)
_RUST_BT = re.compile(r"^\s+at \.?/?(src/\S+\.rs):(\d+):(\d+)$")


def rust_panics(ctx: Context) -> list[Finding]:
    """Rust panics, located at the panic site or the first app frame of the backtrace."""
    found: dict[str, Finding] = {}
    for n in ctx.lines_with_ci("panic"):
        if n in ctx.claimed:
            continue
        m = _RUST_PANIC.search(ctx.lines[n])
        if not m:
            continue
        thread, msg, file, line_no = m.group(1), m.group(2), m.group(3), int(m.group(4))
        covered = [n]
        j = n + 1
        if msg is None:  # Rust >= 1.73: the message is on the following line(s)
            body = []
            while (
                j < len(ctx.lines)
                and ctx.lines[j].strip()
                and not ctx.lines[j].startswith(("stack backtrace", "note:"))
            ):
                body.append(ctx.lines[j].strip())
                covered.append(j)
                j += 1
            msg = "; ".join(body[:3])
        if "/rustc/" in file or ".cargo/registry" in file:
            # panicked inside std or a dependency: the first app frame of the backtrace is better
            for k in range(j, min(len(ctx.lines), j + 80)):
                bm = _RUST_BT.match(ctx.lines[k])
                if bm:
                    file, line_no = bm.group(1), int(bm.group(2))
                    break
        while j < len(ctx.lines) and (
            ctx.lines[j].startswith(("stack backtrace", "note: ", "  "))
            or re.match(r"^\s+\d+: ", ctx.lines[j])
        ):
            covered.append(j)
            j += 1
        ctx.claimed.update(covered)
        f = Finding(
            kind="error",
            title=f"panic in thread '{thread}': {msg}",
            severity="critical",
            key=f"rust:{re.sub(r'[0-9]+', 'N', msg or '')[:80]}:{_short(file)}:{line_no}",
            lines=covered,
            location=f"{file}:{line_no}",
            detail=f"The Rust thread '{thread}' panicked.",
            root_cause=f"{msg} at {file}:{line_no}",
            fix=f"Handle the error at {file}:{line_no} instead of unwrap()/expect() (return a Result).",
            evidence_lines=covered[:3],
        )
        _merge(found, f)
    return list(found.values())
