"""Settings from the environment, validated at start-up. Nothing else reads os.environ."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from platformdirs import user_data_path
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, SettingsConfigDict

from rules.rulesets import RULESETS

GOOGLE_SHEETS_API_URL = "https://sheets.googleapis.com/v4/"
SLACK_API_URL = "https://slack.com/api/"


def default_database_url() -> str:
    """One ledger per user, wherever kpibot is started (not ./kpibot.db: two folders
    would keep two ledgers and send every reminder twice)."""
    return f"sqlite:///{user_data_path('kpibot', appauthor=False) / 'kpibot.db'}"


class SettingsError(Exception):
    """A setting is missing or wrong; the message names it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=False, extra="ignore", frozen=True)

    kpibot_sheet: str = Field(
        "", description="Google spreadsheet ID or URL, or a local .xlsx/.csv path"
    )
    kpibot_ruleset: str = "naikakufu"
    kpibot_rounding: Literal["truncate", "half_up"] = "truncate"
    # The rule set's thresholds, in percent (the national scale: 100 and 80).
    kpibot_threshold_hit: Decimal = Field(Decimal(100), gt=0, le=1000)
    kpibot_threshold_fail: Decimal = Field(Decimal(80), ge=0, le=1000)
    kpibot_threshold_mean: Decimal = Field(Decimal(80), ge=0, le=1000)
    # kokka: 相当程度効果があった when the KPIs reached this much on average (7〜8割 in print).
    kpibot_threshold_mostly: Decimal = Field(Decimal(80), gt=0, le=100)
    kpibot_timezone: str = "Asia/Tokyo"
    kpibot_database_url: str = Field(default_factory=default_database_url)
    kpibot_sheets_api_url: str = GOOGLE_SHEETS_API_URL
    kpibot_slack_api_url: str = SLACK_API_URL
    kpibot_admin_users: str = ""
    kpibot_addon_secret: SecretStr | None = None
    google_application_credentials: str = Field(
        "", description="service-account key: the path of its JSON file, or the JSON itself"
    )
    kpibot_sheets_max_tries: int = Field(6, ge=1, le=20)
    kpibot_sheets_max_wait: float = Field(60.0, gt=0, le=600, description="seconds, all retries")
    kpibot_addon_wait: float = Field(
        20.0, gt=0, le=50, description="seconds a sync may take before it goes on in the background"
    )
    kpibot_reminder_time: str = "09:00"
    kpibot_remind_all_clear: bool = False
    # A claimed reminder is someone else's to look up and resend only after this long: more
    # than a post can take (the time-out and Slack's Retry-After waits).
    kpibot_reminder_lease: float = Field(600.0, gt=0, le=86400, description="seconds")
    kpibot_slack_timeout: float = Field(15.0, gt=0, le=120, description="seconds per request")
    kpibot_snapshot_max_age: float = Field(300.0, ge=0, description="seconds before re-reading")
    kpibot_worker_timeout: float = Field(
        60.0, ge=3, le=3600, description="seconds serve --http's worker may not answer a ping"
    )
    kpibot_chromium: str = Field("", description="Chromium for the PDF (default: found on PATH)")
    kpibot_publish_dir: str = Field(
        "公表資料", description="where `serve` keeps the files /kpi report and the add-on make"
    )
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    port: int = Field(3000, ge=1, le=65535, description="serve --http's port")

    @field_validator("kpibot_sheets_api_url", "kpibot_slack_api_url")
    @classmethod
    def _base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("http:// か https:// で始まる URL を指定してください")
        return value if value.endswith("/") else value + "/"

    @field_validator("kpibot_database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            make_url(value).get_dialect()
        except (ArgumentError, NoSuchModuleError, ValueError) as error:
            raise ValueError(
                f"データベースの URL として読めません（{str(error).splitlines()[0][:100]}）。"
                "例: sqlite:///kpibot.db、postgresql+psycopg://user:pass@host/kpibot"
            ) from None
        return value

    @field_validator("kpibot_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"タイムゾーン {value} がありません（例: Asia/Tokyo）") from None
        return value

    @model_validator(mode="after")
    def _thresholds_in_order(self) -> Settings:
        if self.kpibot_threshold_fail > self.kpibot_threshold_hit:
            raise ValueError("KPIBOT_THRESHOLD_FAIL は KPIBOT_THRESHOLD_HIT 以下にしてください")
        return self

    @field_validator("kpibot_reminder_time")
    @classmethod
    def _time_of_day(cls, value: str) -> str:
        if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", value.strip()):
            raise ValueError(f"「{value}」を時刻として読めません。24時間制の 時:分 で（例: 09:00）")
        return value.strip()

    @field_validator("kpibot_ruleset")
    @classmethod
    def _known_ruleset(cls, value: str) -> str:
        if value not in RULESETS:
            raise ValueError(f"使えるのは {', '.join(RULESETS)} です")
        return value


def load_settings(**overrides: object) -> Settings:
    """Read the environment; a wrong value becomes a message that names the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = []
        for issue in error.errors():
            message = _in_japanese(issue)
            if issue["loc"]:
                lines.append(f"設定 {str(issue['loc'][0]).upper()} が正しくありません: {message}")
            else:
                lines.append(f"設定が正しくありません: {message}")
        raise SettingsError("\n".join(lines)) from None


def _in_japanese(issue: ErrorDetails) -> str:
    """pydantic's own words (「Input should be a valid decimal」) for a value someone typed
    into an environment variable, said in Japanese with the value quoted. Our validators'
    messages are Japanese already."""
    kind, context = issue["type"], issue.get("ctx", {})
    typed = issue.get("input")
    quoted = f"「{typed}」は" if isinstance(typed, str) else ""
    if kind == "value_error":
        return str(context.get("error", issue["msg"]))
    if kind in ("decimal_parsing", "float_parsing", "decimal_type", "float_type"):
        return f"{quoted}数値として読めません（例: 100）"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{quoted}整数として読めません"
    if kind in ("bool_parsing", "bool_type"):
        return f"{quoted}真偽値として読めません（true か false）"
    if kind == "literal_error":
        choices = str(context.get("expected", "")).replace("'", "").replace(" or ", "、")
        return f"{quoted}使えません。使えるのは {choices.replace(', ', '、')} です"
    limit = {
        "greater_than": ("gt", "より大きい値"),
        "greater_than_equal": ("ge", "以上の値"),
        "less_than": ("lt", "より小さい値"),
        "less_than_equal": ("le", "以下の値"),
    }
    if kind in limit:
        key, words = limit[kind]
        return f"{typed} は範囲外です。{context.get(key)} {words}にしてください"
    return str(issue["msg"])
