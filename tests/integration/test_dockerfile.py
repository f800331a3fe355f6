"""The sidecar image, as far as a machine without a container engine can check it.

The Dockerfile is parsed (stages, user, final-stage contents, entrypoint, healthcheck); the
build context is computed from ``.dockerignore`` and must hold every file the image copies;
and the image's exact ENTRYPOINT (with its ENV, paths remapped into a temporary directory)
and exact HEALTHCHECK command are run against a real daemon.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import stat
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from tests.conftest import REPO, DaemonProcess, free_port, http_get, wait_for

DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
COMPILERS = ("gcc", "g++", "cc ", "clang", "build-essential", "make ", "apt-get install")


# -- a small Dockerfile reader ----------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str
    flags: dict[str, str] = field(default_factory=dict)

    def exec_form(self) -> list[str]:
        value: list[str] = json.loads(self.args)
        assert isinstance(value, list), f"{self.keyword} is not in exec (JSON) form"
        return value


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def one(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert len(found) == 1, f"{len(found)} {keyword} instructions in the stage"
        return found[0]

    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for inst in self.all("ENV"):
            for pair in shlex.split(inst.args):
                key, _, value = pair.partition("=")
                out[key] = value
        return out


def logical_lines(text: str) -> list[str]:
    """Instructions with continuations joined; comment lines dropped (also inside one)."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].strip() + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continuation"
    return lines


def parse_instruction(line: str) -> Instruction:
    keyword, _, rest = line.partition(" ")
    rest = rest.strip()
    flags: dict[str, str] = {}
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        name, _, value = flag[2:].partition("=")
        flags[name] = value
        rest = rest.strip()
    return Instruction(keyword.upper(), rest, flags)


def parse_dockerfile(path: Path = DOCKERFILE) -> list[Stage]:
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical_lines(path.read_text()):
        inst = parse_instruction(line)
        if inst.keyword == "ARG" and not stages:
            name, _, default = inst.args.partition("=")
            args[name] = default
        elif inst.keyword == "FROM":
            words = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], inst.args).split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(words[0], name, []))
        else:
            assert stages, f"{inst.keyword} before the first FROM"
            stages[-1].instructions.append(inst)
    return stages


def final() -> Stage:
    return parse_dockerfile()[-1]


# -- .dockerignore, as the engine applies it --------------------------------------------------


def _pattern(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def build_context() -> set[str]:
    """Files sent to the engine: a pattern matches a path or any of its parents; the last
    matching pattern wins; ``!`` re-includes."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        cleaned = str(PurePosixPath(line.lstrip("!").strip("/")))
        rules.append((include, _pattern(cleaned)))
    files: set[str] = set()
    for path in REPO.rglob("*"):
        if path.is_dir() or ".git" in path.parts or ".venv" in path.parts:
            continue
        rel = path.relative_to(REPO).as_posix()
        prefixes = [rel[:i] for i, c in enumerate(rel) if c == "/"] + [rel]
        excluded = False
        for include, rx in rules:
            if any(rx.fullmatch(p) for p in prefixes):
                excluded = not include
        if not excluded:
            files.add(rel)
    return files


def pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


# -- the image's structure --------------------------------------------------------------------


def test_two_stages_on_python_3_11_slim() -> None:
    """A build stage and a final stage, both from python:3.11-slim."""
    stages = parse_dockerfile()
    assert [(s.base, s.name) for s in stages] == [
        ("python:3.11-slim", "build"),
        ("python:3.11-slim", None),
    ]


def test_wheels_built_in_the_first_stage_installed_offline_in_the_second() -> None:
    """pip wheel in ``build``; the final stage installs only those wheels (--no-index, mounted
    from the build stage) and has no compiler, apt install or source copy."""
    build, last = parse_dockerfile()
    assert any("pip wheel" in r.args and "--wheel-dir /wheels" in r.args for r in build.all("RUN"))
    installs = [r for r in last.all("RUN") if "pip install" in r.args]
    assert len(installs) == 1
    assert installs[0].flags["mount"] == "type=bind,from=build,source=/wheels,target=/wheels"
    assert "--no-index" in installs[0].args and "--find-links=/wheels" in installs[0].args
    for run in last.all("RUN"):
        for word in COMPILERS:
            assert word not in run.args + " ", f"{word.strip()!r} in the final stage"
    assert last.all("COPY") == [] and last.all("ADD") == []


def test_runs_as_the_unprivileged_user_it_creates() -> None:
    """USER is numeric (Kubernetes runAsNonRoot can check it), not 0, made by useradd."""
    last = final()
    user = last.one("USER").args
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    setup = " ".join(r.args for r in last.all("RUN"))
    assert f"useradd --system --uid {uid}" in setup
    assert f"groupadd --system --gid {gid}" in setup
    # Everything after USER runs unprivileged: no RUN needs root there.
    after = last.instructions[last.instructions.index(last.one("USER")) :]
    assert [i.keyword for i in after if i.keyword == "RUN"] == []


def test_entrypoint_is_the_logmarketd_console_script() -> None:
    """ENTRYPOINT ["logmarketd"] is the script the project installs, run as PID 1."""
    last = final()
    assert last.one("ENTRYPOINT").exec_form() == ["logmarketd"]
    assert last.one("CMD").exec_form() == []
    assert pyproject()["project"]["scripts"]["logmarketd"] == "logmarketd.main:main"
    assert last.one("STOPSIGNAL").args == "SIGTERM"


def test_environment_volumes_and_port_agree() -> None:
    """The socket's directory and the state directory are volumes; HTTP is loopback on the
    exposed port; every LOGMARKET_ variable names a real setting."""
    last = final()
    env = last.env()
    volumes = last.one("VOLUME").exec_form()
    assert str(PurePosixPath(env["LOGMARKET_SOCKET"]).parent) in volumes
    assert env["LOGMARKET_STATE_DIR"] in volumes
    host, _, port = env["LOGMARKET_HTTP"].rpartition(":")
    assert host == "127.0.0.1"
    assert last.one("EXPOSE").args == port
    assert last.one("WORKDIR").args == env["LOGMARKET_STATE_DIR"]
    from logmarketd.settings import Settings

    for name in env:
        if name.startswith("LOGMARKET_"):
            assert name[len("LOGMARKET_") :].lower() in Settings.model_fields


def test_every_copied_file_exists_and_is_in_the_build_context() -> None:
    """COPY sources exist and survive .dockerignore; the context holds every file of the
    wheel (both packages, pyproject, README) and nothing else (no tests, no .venv)."""
    context = build_context()
    build = parse_dockerfile()[0]
    copied: list[str] = []
    for inst in build.all("COPY"):
        assert "from" not in inst.flags
        *sources, _dest = inst.args.split()
        copied.extend(sources)
    for source in copied:
        path = REPO / source
        assert path.exists(), f"COPY {source}: not in the repository"
        inside = [f for f in context if f == source or f.startswith(source.rstrip("/") + "/")]
        assert inside, f"COPY {source}: excluded by .dockerignore"
    project = pyproject()
    packages = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    needed = {"pyproject.toml", project["project"]["readme"]}
    for package in packages:
        needed |= {
            p.relative_to(REPO).as_posix()
            for p in (REPO / package).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts
        }
    assert needed <= context, sorted(needed - context)
    assert context <= needed, sorted(context - needed)
    assert "daemon/logmarketd/systemd.py" in context
    # The extras installed by the image exist in pyproject.
    extras = project["project"]["optional-dependencies"]
    for run in build.all("RUN") + final().all("RUN"):
        for extra in re.findall(r"\[(\w+)\]'", run.args):
            assert extra in extras


# -- the image's commands, run for real -------------------------------------------------------


def healthcheck_command() -> list[str]:
    inst = final().one("HEALTHCHECK")
    assert inst.args.startswith("CMD ")
    argv = json.loads(inst.args[len("CMD ") :])
    assert argv[0] == "python", "slim has python, not curl"
    return [sys.executable, *argv[1:]]


def test_healthcheck_flags_are_set() -> None:
    """Interval, timeout, start period and retries are explicit."""
    flags = final().one("HEALTHCHECK").flags
    assert set(flags) == {"interval", "timeout", "start-period", "retries"}


def run_healthcheck(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        healthcheck_command(), env=env, capture_output=True, text=True, timeout=30
    )


def test_healthcheck_command_passes_on_a_live_daemon_and_fails_without(
    daemon: DaemonProcess,
) -> None:
    """The exact HEALTHCHECK one-liner: exit 0 against a running daemon's /healthz, non-zero
    once it has stopped."""
    env = {**os.environ, "LOGMARKET_HTTP": f"127.0.0.1:{daemon.port}"}
    ok = run_healthcheck(env)
    assert ok.returncode == 0, ok.stderr
    daemon.stop()
    down = run_healthcheck(env)
    assert down.returncode != 0
    assert "Connection refused" in down.stderr


def image_environment(root: Path, port: int) -> dict[str, str]:
    """The image's ENV with its paths moved under ``root`` and HTTP on a free port."""
    env = final().env()
    remapped: dict[str, str] = {}
    for key, value in env.items():
        for prefix, local in (("/var/lib/logmarketd", root / "state"), ("/run/logmarketd", root)):
            if value.startswith(prefix):
                value = str(local) + value[len(prefix) :]
        remapped[key] = value
    remapped["LOGMARKET_HTTP"] = env["LOGMARKET_HTTP"].rsplit(":", 1)[0] + f":{port}"
    return remapped


def test_entrypoint_with_the_image_environment_serves_and_stops_cleanly(
    short_tmp: Path,
) -> None:
    """ENTRYPOINT + CMD with the image's ENV: the socket appears (mode 0660), /healthz answers,
    the HEALTHCHECK passes, and SIGTERM (STOPSIGNAL) exits 0 and removes the socket."""
    port = free_port()
    image_env = image_environment(short_tmp, port)
    state = Path(image_env["LOGMARKET_STATE_DIR"])
    state.mkdir(mode=0o700)  # as the image creates it (install -d -m 0700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGMARKET_")}
    env.update(image_env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    last = final()
    argv = last.one("ENTRYPOINT").exec_form() + last.one("CMD").exec_form()
    log = short_tmp / "entrypoint.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, env=env, cwd=state, stdout=out, stderr=subprocess.STDOUT)
    sock = Path(image_env["LOGMARKET_SOCKET"])
    try:

        def healthy() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return http_get(f"http://127.0.0.1:{port}/healthz", timeout=1)[0] == 200
            except OSError:
                return False

        assert wait_for(healthy, 20), log.read_text()
        assert stat.S_IMODE(sock.stat().st_mode) == 0o660
        assert run_healthcheck(env).returncode == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert not sock.exists()
    assert (state / "logmarket.db").exists()
    # Own logs as JSON lines (LOGMARKET_LOG_FORMAT=json), for the container runtime.
    lines = [ln for ln in log.read_text().splitlines() if ln.startswith("{")]
    assert any(json.loads(ln).get("event") == "serving" for ln in lines)


@pytest.mark.parametrize("http", ["localhost", "[::1]"])
def test_healthcheck_follows_a_configured_address(short_tmp: Path, http: str) -> None:
    """With LOGMARKET_HTTP changed (a name, IPv6) the same HEALTHCHECK still finds it."""
    d = DaemonProcess(short_tmp)
    d.extra = ["--http", f"{http}:{d.port}"]
    d.start(wait=False)
    env = {**os.environ, "LOGMARKET_HTTP": f"{http}:{d.port}"}
    try:
        assert wait_for(lambda: run_healthcheck(env).returncode == 0, 20), d.log.read_text()
    finally:
        d.stop()


def test_deploy_doc_probes_run_the_image_healthcheck() -> None:
    """The Kubernetes probes in docs/deploy.md are the image's HEALTHCHECK command, verbatim."""
    text = (REPO / "docs/deploy.md").read_text()
    probes = [json.loads(m) for m in re.findall(r"command: (\[\"python\".*\])", text)]
    image = json.loads(final().one("HEALTHCHECK").args[len("CMD ") :])
    assert len(probes) == 2
    assert all(probe == image for probe in probes)
