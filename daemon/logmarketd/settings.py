"""Every setting of the daemon, in one place.

Precedence: command-line flags > environment > TOML file (``--config`` /
``LOGMARKET_CONFIG``) > defaults. Our own settings read ``LOGMARKET_<NAME>``; the seed's
settings keep the seed's variable names (``AUTO_PAY_THRESHOLD``, ...). In the TOML file a
setting is written by its field name (``state_dir = "/var/lib/logmarketd"``).
"""

from __future__ import annotations

import json
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    TomlConfigSettingsSource,
)

from logmarketd.errors import ConfigError
from logmarketd.setting_errors import describe, env_names, explain_order

__all__ = ["Settings", "env_names", "load_settings"]


def _seed(name: str) -> AliasChoices:
    """A setting named by the seed: its env variable, and its field name for flags and files."""
    return AliasChoices(name.lower(), name)


_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def _seed_score(default: int, name: str, description: str) -> Any:
    """A seed's setting that is a threshold on a 0-100 score (typed Any, as ``Field`` is)."""
    return Field(default, ge=0, le=100, validation_alias=_seed(name), description=description)


# How a list setting given as text (an environment variable, a string in the file) is split:
# paths on commas and colons; addresses and ids on commas (IPv6 has colons); rules on the
# commas that start a new ``GLOB=``; regexes and secret values one a line (both may hold commas).
_LIST_SEPARATORS: dict[str, str] = {
    "watch": ",:",
    "agents_allow_addresses": ",",
    "peer_uid_credit": ",",
    "watch_rules": "rule",
    "redact_allowlist": "\n",
    "agents_allow_secret_values": "\n",
}


def split_list(text: str, separators: str) -> list[str]:
    """``text`` cut into items (blank ones dropped) by ``separators`` (see above)."""
    if separators == "rule":
        items: list[str] = []
        for part in text.split(","):
            if "=" in part or not items:
                items.append(part)
            else:
                items[-1] += "," + part
        return [i.strip() for i in items if i.strip()]
    parts = re.split("[" + re.escape(separators) + "]", text)
    return [p.strip() for p in parts if p.strip()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LOGMARKET_",
        populate_by_name=True,
        extra="forbid",
        case_sensitive=False,
    )

    # -- where it lives and listens ----------------------------------------------------
    state_dir: Path = Field(
        Path(".logmarket"), description="directory for the SQLite store and the admin token"
    )
    store: str | None = Field(
        None,
        description="the marketplace's store shared by a fleet of daemons, "
        "postgresql://USER@HOST:PORT/DB (its password from PGPASSWORD or ~/.pgpass); each "
        "daemon's inbox and windows stay in STATE_DIR (default: all in STATE_DIR's SQLite)",
    )
    socket: Path | None = Field(
        None, description="Unix socket path for clients (default: STATE_DIR/logmarketd.sock)"
    )
    socket_mode: int = Field(0o660, description="file mode of the socket (octal in files: 0o660)")
    http: str = Field(
        "127.0.0.1:8765", description="HOST:PORT of the HTTP API; empty to disable HTTP"
    )
    max_frame_bytes: int = Field(
        1024 * 1024, ge=1024, description="largest accepted frame (one line), newline included"
    )
    sync: Literal["full", "normal"] = Field(
        "full",
        description="SQLite synchronous mode: full survives power loss, normal a process crash",
    )
    commit_max_records: int = Field(
        50_000, ge=1, description="most records committed in one inbox transaction"
    )
    shutdown_timeout: float = Field(
        10.0, ge=0, description="seconds to drain connections on SIGTERM before closing them"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="level of the daemon's own logs"
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="own logs as JSON lines, or for a terminal (auto: JSON unless a TTY)"
    )
    admin_token: SecretStr | None = Field(
        None, description="admin bearer token (default: generated once into STATE_DIR)"
    )
    requests_per_minute: int = Field(
        100, ge=1, description="API requests per minute per key (429 beyond)"
    )
    max_body_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="largest accepted HTTP request body (413 beyond)"
    )
    redact_pii: bool = Field(
        False, description="also redact e-mail and IP addresses (secrets are always redacted)"
    )
    redact_allowlist: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="regexes of values never redacted (in env: a JSON list, or one a line)",
    )
    llm_provider: Literal["rules", "openai", "anthropic", "openai-compatible"] = Field(
        "rules", description="who adds root causes and fixes: rules (offline) or a model"
    )
    llm_model: str | None = Field(None, description="model name (default per provider)")
    llm_base_url: str | None = Field(
        None, description="API base URL (openai-compatible, e.g. a local model server)"
    )
    llm_timeout: float = Field(30.0, gt=0, description="seconds per model request")
    llm_max_concurrency: int = Field(4, ge=1, description="model requests in flight at once")
    llm_daily_token_budget: int = Field(
        200_000, ge=0, description="model tokens per UTC day; past it, rules only"
    )
    llm_discover: bool = Field(
        True, description="show the model each log's digest too, for findings the rules missed"
    )
    llm_max_digest_chars: int = Field(
        12_000, ge=500, description="characters of a log's digest a model is shown"
    )
    agents_allow_addresses: Annotated[list[str] | None, NoDecode] = Field(
        None, description="source addresses the Security Guardian never reports (scanners you run)"
    )
    agents_allow_secret_values: Annotated[list[str] | None, NoDecode] = Field(
        None, description="secret-looking values that are known test fixtures, never reported"
    )
    agents_http_ms: float | None = Field(
        None, gt=0, description="HTTP request time above which requests are slow (default 1000)"
    )
    agents_sql_ms: float | None = Field(
        None, gt=0, description="query time above which SQL is slow (default 100)"
    )
    agents_brute_force_failures: int | None = Field(
        None, ge=1, description="failed logins from one address that make brute force (default 5)"
    )
    agents_coverage_min_percent: float | None = Field(
        None, ge=0, le=100, description="test coverage below this is a finding (default 80)"
    )
    rules_dir: Path | None = Field(
        None,
        description="directory of *.toml rule packs used beside the shipped ones; a changed "
        "pack is reloaded while the daemon runs",
    )
    watch: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="files, directories (recursive) or globs to tail into the daemon",
    )
    watch_from_beginning: bool = Field(
        False, description="on the first run, read watched files from their start"
    )
    watch_rules: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="GLOB=SOURCE[,SUBPKP]: source and Sub-PKP of matching files (first wins)",
    )
    watch_sub_pkp: str | None = Field(None, description="Sub-PKP of files no rule names")
    watch_key: SecretStr | None = Field(
        None, description="Sub-PKP key watched files credit (none: they credit no one)"
    )
    watch_poll: bool = Field(
        False, description="poll watched files instead of inotify (network/overlay file systems)"
    )
    webhook_url: str | None = Field(
        None, description="POST every event here, signed, retried until a 2xx (none: off)"
    )
    webhook_secret: SecretStr | None = Field(
        None, description="HMAC-SHA256 key for X-Logmarket-Signature (needed with a URL)"
    )
    webhook_max_backoff: float = Field(
        60.0, gt=0, description="longest wait between two webhook delivery attempts, seconds"
    )
    window_max_records: int = Field(
        2000, ge=1, description="records per analysed window (per Sub-PKP, source, stream)"
    )
    window_seconds: float = Field(
        60.0, gt=0, description="seconds after its first record that a window closes"
    )
    # A local service can be known by the Unix user it runs as instead of by a key: its
    # socket connections credit the mapped Sub-PKP (a valid hello key takes precedence).
    peer_uid_credit: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="UID=SUB_PKP_ID: socket connections from this Unix user id credit this "
        "Sub-PKP (read with SO_PEERCRED; a valid hello key takes precedence)",
    )
    # Money out is bounded the way a bug-bounty budget is. One contributor: $100 a UTC day,
    # five payments at LOG_MARKETPLACE_MAX_PAYMENT, or dozens of genuine first reports (the
    # shipped samples earn $1.08 to $9.62 each); what a key can mint from invented content
    # stops there. The whole market: $1,000 a day, ten contributors at their cap, for one
    # host's marketplace; a fleet raises it. A payment that would cross either is refused
    # and counted (``log.payment.refused``, ``payoutsRefused`` on the dashboard); the
    # analysis stays unpaid, and the admin may pay it on a later day.
    daily_payout_cap: Decimal | None = Field(
        Decimal("100"), ge=0,
        description="most paid to one Sub-PKP per UTC day, in USD (none: no cap)",
    )  # fmt: skip
    daily_market_budget: Decimal | None = Field(
        Decimal("1000"), ge=0,
        description="most the whole market pays per UTC day, in USD (none: no budget)",
    )  # fmt: skip
    # A payout is pending this long before it settles into the balance: time to triage (hold,
    # reverse) what was auto-paid, as a bounty program triages before it pays. 0 settles at
    # once. Seconds, or a number with s, m, h or d.
    settle_after: float = Field(
        86400.0, ge=0, description="hold before an auto-paid payout settles (e.g. 24h, 0: none)"
    )
    # 30 days: past the 24 h settlement hold, with time to triage a finding and a month of
    # dashboard trends, yet raw log text does not pile up. At least 1: a 0 could read as
    # "keep nothing" or as "keep forever", and either guess would surprise someone.
    retention_days: int = Field(
        30,
        ge=1,
        description="days log text is kept (evidence lines, template examples, windows, "
        "answers kept for Idempotency-Keys, events); findings and money are kept for good",
    )

    # The rates behind improvementPotential's estimatedROI (and the ROI of quality-trends):
    # what the log measured (time over a threshold) and the failures it locates, in engineer
    # time, at this rate. Estimates of the deployment's own costs: set them to the team's.
    engineer_hour_usd: Decimal = Field(
        Decimal("150"), ge=0,
        description="cost of one engineer hour in USD, for estimatedROI: measured time over "
        "a threshold and triage time saved are valued at it",
    )  # fmt: skip
    triage_hours_per_failure: Decimal = Field(
        Decimal("0.5"), ge=0,
        description="engineer hours saved per failure a log locates with a specific fix "
        "(finding and reading it from scratch instead), for estimatedROI (0: count only "
        "measured time)",
    )  # fmt: skip

    # -- the seed's settings, names kept -------------------------------------------------
    log_marketplace_enabled: bool = Field(
        True,
        validation_alias=_seed("LOG_MARKETPLACE_ENABLED"),
        description="analysis and payment on; off = ingest and store only",
    )
    log_marketplace_min_payment: Decimal = Field(
        Decimal("0.10"),
        ge=0,
        validation_alias=_seed("LOG_MARKETPLACE_MIN_PAYMENT"),
        description="smallest single payment (USD)",
    )
    log_marketplace_max_payment: Decimal = Field(
        Decimal("20.00"),
        ge=0,
        validation_alias=_seed("LOG_MARKETPLACE_MAX_PAYMENT"),
        description="largest single payment (USD)",
    )
    log_marketplace_quality_threshold: int = _seed_score(
        50, "LOG_MARKETPLACE_QUALITY_THRESHOLD", "below this overall quality nothing is paid"
    )
    ai_monitor_error_detective: bool = Field(
        True, validation_alias=_seed("AI_MONITOR_ERROR_DETECTIVE"), description="Error Detective on"
    )
    ai_monitor_performance: bool = Field(
        True,
        validation_alias=_seed("AI_MONITOR_PERFORMANCE"),
        description="Performance Analyzer on",
    )
    ai_monitor_security: bool = Field(
        True, validation_alias=_seed("AI_MONITOR_SECURITY"), description="Security Guardian on"
    )
    ai_monitor_quality: bool = Field(
        True, validation_alias=_seed("AI_MONITOR_QUALITY"), description="Quality Inspector on"
    )
    auto_pay_threshold: int = _seed_score(
        70, "AUTO_PAY_THRESHOLD", "auto-pay when valueScore is above this"
    )
    batch_processing_enabled: bool = Field(
        True,
        validation_alias=_seed("BATCH_PROCESSING_ENABLED"),
        description="the batch-analyze endpoint on",
    )
    max_logs_per_hour: int = Field(
        1000,
        ge=1,
        validation_alias=_seed("MAX_LOGS_PER_HOUR"),
        description="analysed logs per Sub-PKP per hour",
    )
    points_per_dollar: int = Field(
        10, ge=0, validation_alias=_seed("POINTS_PER_DOLLAR"), description="game points per dollar"
    )
    quality_multiplier_enabled: bool = Field(
        True,
        validation_alias=_seed("QUALITY_MULTIPLIER_ENABLED"),
        description="quality multiplier on points",
    )

    @field_validator(*_LIST_SEPARATORS, mode="before")
    @classmethod
    def _list(cls, value: Any, info: Any) -> Any:
        """A list as people type it: a JSON list, or text split the way the field's items
        allow (paths on commas and colons, rules on commas before a ``GLOB=``, ...)."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                raise ValueError("is not a JSON list (or give the items separated)") from None
        return split_list(text, _LIST_SEPARATORS[info.field_name])

    @field_validator("socket_mode", mode="before")
    @classmethod
    def _octal(cls, value: Any) -> Any:
        if isinstance(value, str):
            return int(value, 8)
        return value

    @field_validator("daily_payout_cap", "daily_market_budget", mode="before")
    @classmethod
    def _none(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "off"):
            return None
        return value

    @field_validator("peer_uid_credit")
    @classmethod
    def _uid_pairs(cls, value: list[str]) -> list[str]:
        for pair in value:
            uid, sep, sub = pair.partition("=")
            if not sep or not uid.strip().isdigit() or not sub.strip():
                raise ValueError(f"each item must be UID=SUB_PKP_ID (UID a number), not {pair!r}")
        return value

    @property
    def peer_credits(self) -> dict[int, str]:
        """``peer_uid_credit`` as a map: Unix user id → Sub-PKP id."""
        pairs = (p.partition("=") for p in self.peer_uid_credit)
        return {int(uid): sub.strip() for uid, _, sub in pairs}

    @field_validator("settle_after", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip()[-1:].lower() in _UNITS:
            number, unit = value.strip()[:-1], value.strip()[-1].lower()
            try:
                return float(number) * _UNITS[unit]
            except ValueError:
                raise ValueError(
                    "must be seconds, or a duration like 90s, 30m, 24h or 2d"
                ) from None
        return value

    @field_validator("store")
    @classmethod
    def _store(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.strip().startswith(("postgresql://", "postgres://")):
            raise ValueError(
                "must be a PostgreSQL DSN, postgresql://USER@HOST:PORT/DB, or empty for the "
                "embedded SQLite store in STATE_DIR"
            )
        return value.strip()

    @field_validator("http")
    @classmethod
    def _host_port(cls, value: str) -> str:
        if value:
            host, sep, port = value.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
                raise ValueError("must be HOST:PORT (e.g. 127.0.0.1:8765), or empty for no HTTP")
        return value

    @property
    def socket_path(self) -> Path:
        return self.socket if self.socket is not None else self.state_dir / "logmarketd.sock"

    @property
    def http_host_port(self) -> tuple[str, int] | None:
        if not self.http:
            return None
        host, _, port = self.http.rpartition(":")
        return host.strip("[]"), int(port)

    @property
    def db_path(self) -> Path:
        return self.state_dir / "logmarket.db"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No implicit .env or config file in the working directory: a TOML file is read only
        # when named (load_settings sets toml_file on a subclass), below env in precedence.
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def load_settings(flags: dict[str, Any], config_file: Path | None = None) -> Settings:
    """Build the settings from flags, the environment and an optional TOML file. A wrong
    one is a :class:`ConfigError` of one line per problem, each naming the setting as it was
    given (flag, environment variable, or file and line), its value and what is allowed."""
    cls: type[Settings] = Settings
    if config_file is not None:
        try:
            tomllib.loads(config_file.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc}") from exc

        class FileSettings(Settings):
            model_config = SettingsConfigDict(toml_file=config_file)

        cls = FileSettings
    try:
        settings = cls(**flags)
    except ValidationError as exc:
        raise ConfigError(describe(Settings, exc.errors(), flags, config_file)) from None
    except (SettingsError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    problem = explain_order(Settings, settings, flags, config_file)
    if problem:
        raise ConfigError(problem)
    return settings
