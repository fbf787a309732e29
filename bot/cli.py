"""The `kpibot` command (also `python -m bot`)."""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from bot import services
from bot.bootstrap import Bot, Services, build, build_bot, example_workbook
from bot.questions import answer
from bot.render import answer_text, problem_text, report_text, written_text
from bot.services import Report
from bot.settings import Settings, SettingsError, load_settings
from rules.rulesets import RULESETS
from sheets.backend import SheetError
from sheets.schema import SchemaError

DEMO_COPY = "kpi-demo.xlsx"
DEMO_QUESTION = "三浦半島の評価は？"

EXIT_OK, EXIT_PROBLEMS, EXIT_FAILED = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports Ctrl-C


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kpibot",
        description="地方創生交付金事業のKPIを検証・評価し、シートに書き戻します。",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--sheet", help="ワークブック（.xlsx/.csv のパス）。省略時は KPIBOT_SHEET、なければ例"
    )
    common.add_argument("--ruleset", help=f"評価ルール（{', '.join(RULESETS)}）")
    common.add_argument("--rounding", choices=("truncate", "half_up"), help="達成率の丸め方")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    demo = sub.add_parser(
        "demo", parents=[common], help="例のワークブックをコピーして評価し、結果を表示します"
    )
    demo.add_argument(
        "--fresh", action="store_true", help=f"既存の {DEMO_COPY} を例で置き換えてから実行します"
    )
    sub.add_parser("sync", parents=[common], help="検証・評価して、結果をシートに書き戻します")
    sub.add_parser("check", parents=[common], help="検証・評価だけ行い、何も書き込みません")
    ask = sub.add_parser("ask", parents=[common], help="Slack と同じように質問に答えます")
    ask.add_argument("question", nargs="+", help="例: 三浦半島の評価は？ / rating for SDGs")
    remind = sub.add_parser(
        "remind",
        parents=[common],
        help="期限のリマインダー: いつ何を送るか（--dry-run）、または今送る",
    )
    remind.add_argument("--dry-run", action="store_true", help="送らずに、予定と内容を表示します")
    remind.add_argument(
        "--at",
        type=_moment,
        help="--dry-run で、この時点として計算します（例: 2026-11-20T08:00+09:00）。既定は今",
    )
    publish = sub.add_parser(
        "publish",
        parents=[common],
        help="公表用の資料（報告書の HTML・PDF、オープンデータの CSV・Excel）を作ります",
    )
    publish.add_argument("--year", help="年度（例: 令和5年度、R5、2023）。既定はシートの最新の年度")
    publish.add_argument(
        "--out", type=Path, default=Path("公表資料"), help="書き出すフォルダ（既定: ./公表資料）"
    )
    publish.add_argument(
        "--draft",
        action="store_true",
        help="エラーや評価保留が残っていても、全ページに「案」と入れて作ります",
    )
    serve = sub.add_parser(
        "serve",
        parents=[common],
        help="Slack ボット・アドオンのバックエンド・リマインダーを動かします",
    )
    serve.add_argument(
        "--http", action="store_true", help="Socket Mode ではなく HTTP で受けます（/slack/events）"
    )
    serve.add_argument(
        "--port", type=_port, help="HTTP のポート（既定: 環境変数 PORT、なければ 3000）"
    )
    return parser


def _port(text: str) -> int:
    """A port number as waitress can bind it: 70000 would be taken modulo 65536 (4464), 0
    as "the default", and -1 is a traceback after the sheet was read."""
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"ポート番号は 1〜65535 で指定してください（{text}）")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    overrides = _overrides(args)
    try:
        settings = load_settings(**overrides)
        if args.command == "demo":
            return _demo(build(settings, str(_demo_copy(args.fresh))))
        if args.command == "remind":
            if args.at is not None and not args.dry_run:
                # Sending "as if" at another moment would record future reminders as sent.
                print(
                    "エラー: --at は --dry-run と一緒にだけ使えます（送るのはいつも今の時点です）。",
                    file=sys.stderr,
                )
                return EXIT_FAILED
            _say_database(settings)
            return _remind(build_bot(settings, args.sheet), args.dry_run, args.at)
        if args.command == "serve":
            from bot.relay import ServeError  # the Slack, HTTP and scheduler stack: only here
            from bot.serve import serve

            logging.getLogger().setLevel(logging.INFO)
            _say_database(settings)
            try:
                serve(settings, args.sheet, args.http, args.port)
            except ServeError as error:
                print(f"エラー: {error}", file=sys.stderr)
                return EXIT_FAILED
            return EXIT_OK
        app = build(settings, args.sheet)
        if args.command == "sync":
            if app.backend.location == str(example_workbook()):
                raise SheetError(
                    "同梱の例のワークブックには書き込めません。`kpibot demo` を使うか、"
                    "コピーを --sheet または KPIBOT_SHEET で指定してください。"
                )
            return _sync(app, _sync_argv(args))
        if args.command == "check":
            _say_database(settings)
            return _check(app)
        if args.command == "publish":
            return _publish(app, args.out, args.year, args.draft)
        return _ask(app, " ".join(args.question))
    except (SettingsError, SheetError, SchemaError) as error:
        print(f"エラー: {error}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:  # Ctrl-C while `serve` starts: stopped, as asked
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `kpibot ask 一覧 | head -2`: the reader has gone. Say nothing, and point stdout at
        # /dev/null so that the interpreter's last flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except OSError as error:  # a folder that cannot be written, a disk that is full, …
        print(f"エラー: ファイルを読み書きできません（{error}）。", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:
        if not _database_error(error):
            raise
        print(
            f"エラー: データベースを使えません（{str(error).splitlines()[0][:200]}）。"
            "KPIBOT_DATABASE_URL を確認してください。",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _database_error(error: Exception) -> bool:
    """Is this SQLAlchemy's error? Looked up, not imported: a command that never touched
    the database (sync, check) need not import SQLAlchemy (a fifth of a second) just to
    name an error it cannot raise."""
    exc = sys.modules.get("sqlalchemy.exc")
    return exc is not None and isinstance(error, exc.SQLAlchemyError)


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    return {
        key: value
        for key, value in (("kpibot_ruleset", args.ruleset), ("kpibot_rounding", args.rounding))
        if value
    }


def _moment(text: str) -> dt.datetime:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"「{text}」を日時として読めません。例: 2026-11-20T08:00+09:00"
        ) from None


def _say_database(settings: Settings) -> None:
    from bot.store import database_label

    print(f"データベース: {database_label(settings.kpibot_database_url)}", file=sys.stderr)


def _remind(bot: Bot, dry_run: bool, at: dt.datetime | None) -> int:
    # The database and holiday calendar: only here
    from bot.reminders import send as reminders
    from bot.reminders.mentions import SlackDirectory
    from bot.store import Ledger

    moment = at or dt.datetime.now(bot.timezone)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=bot.timezone)
    moment = moment.astimezone(bot.timezone)
    client = reminders.reminder_client(bot)
    if dry_run:
        print(reminders.dry_run(bot, moment, SlackDirectory(client) if client.token else None))
        return EXIT_OK
    sender = reminders.ReminderSender(bot, Ledger(bot.settings.kpibot_database_url), client)
    run = sender.send_due(moment)
    print(reminders.run_text(run))
    return EXIT_OK if run.complete else EXIT_PROBLEMS


def _demo_copy(fresh: bool) -> Path:
    target = Path.cwd() / DEMO_COPY
    if target.exists() and not fresh:
        print(f"{DEMO_COPY} はすでにあるので、そのまま使います（作り直すには --fresh）。")
    else:
        shutil.copyfile(example_workbook(), target)
        print(f"例のワークブックを {target} にコピーしました。")
    return target


def _demo(app: Services) -> int:
    report = services.sync(app.backend, app.ruleset, app.rounding)
    print(report_text(report))
    print()
    print(written_text(report))
    print()
    print(f'質問の例: kpibot ask "{DEMO_QUESTION}"')
    print(answer_text(answer(DEMO_QUESTION, report.evaluation)))
    return EXIT_OK


def _sync(app: Services, argv: list[str]) -> int:
    from bot import clean_record

    # A workbook whose exact bytes this kpibot, so configured, found in sync today: what
    # that sync printed, without reading and rating it again (bot/clean_record.py).
    today = services.today_in_japan()
    record = clean_record.for_sync(app, today)
    if record is not None and (output := record.lookup()) is not None:
        print(output)
        return EXIT_OK
    report = services.sync(app.backend, app.ruleset, app.rounding)
    output = sync_output(report)
    print(output)
    if record is not None and len(report.table.rows) >= clean_record.RECORD_FROM_ROWS:
        if report.written:
            clean_record.prepare_in_background(argv)  # the file as written: read and rated
        elif services.today_in_japan() == today:
            record.store(report.snapshot.version, output)
    return EXIT_OK


def sync_output(report: Report) -> str:
    """What `kpibot sync` prints."""
    return f"{report_text(report)}\n\n{written_text(report)}"


def _sync_argv(args: argparse.Namespace) -> list[str]:
    """The sync's own arguments, for a process that repeats its read (bot/clean_record)."""
    pairs = (("--sheet", args.sheet), ("--ruleset", args.ruleset), ("--rounding", args.rounding))
    return [part for flag, value in pairs if value for part in (flag, value)]


def sync_arguments(argv: list[str]) -> tuple[str | None, dict[str, object]]:
    """The workbook and the settings' overrides of `kpibot sync <argv>`."""
    args = _parser().parse_args(["sync", *argv])
    return args.sheet, _overrides(args)


def _check(app: Services) -> int:
    report = services.check(app.backend, app.ruleset, app.rounding)
    print(report_text(report))
    for problem in report.table.problems:
        print(problem_text(problem), file=sys.stderr)
    return EXIT_PROBLEMS if report.errors else EXIT_OK


def _publish(app: Services, out: Path, year: str | None, draft: bool) -> int:
    from bot.publish.document import NotReady, PublishError
    from bot.publish.files import publish  # jinja2 and pypdf: only here

    try:
        done = publish(
            app, out, year, draft, app.settings.kpibot_chromium, lambda step: print(step)
        )
    except NotReady as refused:
        print(f"エラー: {refused}", file=sys.stderr)
        return EXIT_PROBLEMS
    except PublishError as error:
        print(f"エラー: {error}", file=sys.stderr)
        return EXIT_FAILED
    pages = done.publication.pages
    print(f"{done.publication.title}: {len(pages)}事業を{done.seconds:.1f}秒で書き出しました。")
    for path in done.files:
        print(f"  {path}")
    return EXIT_OK


def _ask(app: Services, question: str) -> int:
    report = services.check(app.backend, app.ruleset, app.rounding)
    today = dt.datetime.now(ZoneInfo(app.settings.kpibot_timezone)).date()
    print(answer_text(answer(question, report.evaluation, deadlines=report.deadlines, today=today)))
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
