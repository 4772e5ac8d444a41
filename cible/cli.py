"""`cible`: run the pipeline and read its results from the command line.

    cible demo [--customers N] [--profile P]   generate demo data, load it, build everything
    cible run                    load the landing folder and build everything (through Dagster)
    cible summary                print where the results are and the headline figures
    cible load                   only load the landing folder into the raw schema
    cible contract               print the source contract as Markdown (docs/source_contract.md)
    cible pii                    print the personal data columns as Markdown (docs/personal_data.md)
    cible dev [--port P]         open the Dagster UI on the landing folder and warehouse
    cible dashboard [--serve]    rebuild the dashboard from the BI copy (docs/bi.md); serve it
    cible live ...               live segments: collector, worker, look-up (docs/live.md)

`demo` and `run` materialize the same Dagster assets as "Materialize all" in the UI, so the
command line and the UI cannot drift apart.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cible import settings
from cible.dbt_cli import console_script, parse_project
from cible.run_output import RunOutput

# The Dagster code location, run by `dagster` in its own processes (never imported here: the
# command line sits below the orchestration layer).
DEFINITIONS_MODULE = "cible.orchestration.definitions"


def prepare_dagster_home() -> Path:
    """The Dagster instance folder, holding Cible's instance settings (`config/dagster.yaml`)."""
    folder = settings.dagster_home()
    folder.mkdir(parents=True, exist_ok=True)
    template = (settings.CONFIG_DIR / "dagster.yaml").read_text(encoding="utf-8")
    instance = folder / "dagster.yaml"
    if not instance.exists() or instance.read_text(encoding="utf-8") != template:
        instance.write_text(template, encoding="utf-8")
    return folder


def _environment(demo: bool | None) -> dict[str, str]:
    """The environment of the Dagster and dbt processes: Cible's paths made absolute, and the
    demo generator switched on or off (None: as `CIBLE_DEMO` and the landing folder decide)."""
    env = dict(os.environ)
    env[settings.HOME_ENV] = str(settings.home())
    env["DAGSTER_HOME"] = str(prepare_dagster_home())
    # dbt writes its artifacts and logs beside the project by default: inside the package
    # for an installed wheel. Keep them under Cible's home instead.
    env.setdefault("DBT_TARGET_PATH", str(settings.dbt_target_dir()))
    env.setdefault("DBT_LOG_PATH", str(settings.dbt_target_dir().parent / "logs"))
    env[settings.WAREHOUSE_ENV] = str(settings.warehouse_path())
    env[settings.LANDING_DIR_ENV] = str(settings.landing_dir())
    if demo is not None:
        env[settings.DEMO_ENV] = "1" if demo else "0"
    return env


def event_partition_range(today: date | None = None) -> str:
    """Every daily event partition as `first...last`, the `--partition-range` of a full run.

    The partitions run from `CIBLE_EVENT_PARTITIONS_START` to yesterday (UTC), the last
    complete day, as `cible.orchestration.partitions.event_partitions` defines them.
    """
    today = today or datetime.now(UTC).date()
    return f"{settings.event_partitions_start()}...{today - timedelta(days=1):%Y-%m-%d}"


def materialize_all(demo: bool, run_config: dict | None = None) -> None:
    """Materialize every asset of the code location, as "Materialize all" does in the UI."""
    env = _environment(demo)
    settings.warehouse_path().parent.mkdir(parents=True, exist_ok=True)
    parse_project(env=env)
    # Every daily partition of the event models, processed in one dbt invocation.
    command = [
        console_script("dagster"),
        "asset",
        "materialize",
        "--select",
        "*",
        "-m",
        DEFINITIONS_MODULE,
        "--partition-range",
        event_partition_range(),
    ]
    # One process for the whole run: steps run one after another anyway (DuckDB admits one
    # writer), and each step process would reload the code location. Runs launched from the
    # UI or by schedules keep Dagster's multiprocess executor, which survives a crashed step.
    config = {"execution": {"config": {"in_process": {}}}, **(run_config or {})}
    command += ["--config-json", json.dumps(config)]
    run_logged(command, env, "demo" if demo else "run")


def late_event_days(warehouse: Path | None = None) -> tuple[date, date, int] | None:
    """The first and last day of the web events that arrived later than the lookback, and how
    many they are (`intermediate.int_events_unprocessed`): what a backfill must process. None
    when no event waits (or the warehouse is not built yet). Campaign events never wait: a
    daily run takes every one it has not processed, whatever its day."""
    from cible.warehouse import connect, table_exists

    path = warehouse or settings.warehouse_path()
    if not path.exists():
        return None
    with connect(path, read_only=True) as con:
        if not table_exists(con, "intermediate.int_events_unprocessed"):
            return None
        first, last, events = con.execute(
            "select min(occurred_on), max(occurred_on), count(*) "
            "from intermediate.int_events_unprocessed "
            "where unprocessed_reason = 'later_than_lookback'"
        ).fetchone()
    return (first, last, events) if events else None


def backfill_tags(first: date, last: date) -> dict[str, str]:
    """The tags of one run over the event partitions first..last."""
    return {
        "dagster/asset_partition_range_start": f"{first:%Y-%m-%d}",
        "dagster/asset_partition_range_end": f"{last:%Y-%m-%d}",
    }


def backfill_command(first: date, last: date, config_file: Path) -> list[str]:
    """The daily job over the days first..last in one run: their events (and the lookback
    before them) processed again, then the published models applied, no refit."""
    return [
        console_script("dagster"),
        "job",
        "execute",
        "-m",
        DEFINITIONS_MODULE,
        "-j",
        "daily_refresh",
        "--tags",
        json.dumps(backfill_tags(first, last)),
        "-c",
        str(config_file),
    ]


def backfill(first: date | None = None, last: date | None = None) -> None:
    """Process again the days of the events that arrived later than the lookback (or the days
    given) with the daily job, as "Materialize" over those partitions does in the UI."""
    if first is None or last is None:
        found = late_event_days()
        if found is None:
            print("No event waits for a backfill (none arrived later than the lookback).")
            return
        first, last, events = found
        print(f"{events:,} events arrived later than the lookback, from {first} to {last}.")
    env = _environment(demo=False)
    parse_project(env=env)
    # One process for the run, as `cible run` (steps reload the code location otherwise).
    config = settings.logs_dir() / "backfill-run-config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"execution": {"config": {"in_process": {}}}}))
    print(f"Backfilling the event days {first} to {last} with the daily job.")
    run_logged(backfill_command(first, last, config), env, "backfill")


class RunFailed(Exception):
    """A pipeline run failed; the message is the paragraph for the user."""


def run_logged(command: list[str], env: dict[str, str], name: str) -> None:
    """Run Dagster with its output in a log file, printing one line per step; raises
    :class:`RunFailed` with the reason as one paragraph when the run fails."""
    folder = settings.logs_dir()
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / f"cible-{name}-{datetime.now(UTC):%Y%m%d-%H%M%S}.log"
    output = RunOutput()
    print(f"Running the pipeline (Dagster's output: {log})")
    with (
        log.open("w", encoding="utf-8") as sink,
        subprocess.Popen(
            command,
            env=env,
            cwd=settings.home(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as process,
    ):
        assert process.stdout is not None
        for line in process.stdout:
            sink.write(line)
            shown = output.feed(line)
            if shown is not None:
                print(shown, flush=True)
    if process.returncode != 0:
        raise RunFailed(output.failure_paragraph(name, str(log)))


def _default_signals() -> None:
    """Dagster started from a script inherits SIGINT and SIGTERM ignored and would never stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def dev(port: int = 3000) -> int:
    """The Dagster UI on this machine, over the user's landing folder and warehouse."""
    env = _environment(demo=None)
    parse_project(env=env)
    command = [console_script("dagster"), "dev", "-m", DEFINITIONS_MODULE, "-p", str(port)]
    return subprocess.run(
        command, env=env, cwd=settings.home(), preexec_fn=_default_signals
    ).returncode


def dashboard(serve: bool = False, port: int = 8050) -> int:
    """Rebuild the dashboard from the published BI copy; print its path, or serve that page
    alone on 127.0.0.1 (its folder also holds the BI copy, customer rows included)."""
    from cible.bi.dashboard import write_dashboard

    try:
        written = write_dashboard()
    except FileNotFoundError as error:
        print(f"cible: {error}", file=sys.stderr)
        return 1
    print(f"Dashboard ({written.charts} charts): {written.path}")
    if not serve:
        return 0
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Page(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.split("?")[0] not in ("/", f"/{written.path.name}"):
                self.send_error(404)
                return
            body = written.path.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with ThreadingHTTPServer(("127.0.0.1", port), Page) as server:
        print(f"Serving http://127.0.0.1:{port}/ (Ctrl-C stops)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()
    return 0


def summary_lines(warehouse: Path | None = None) -> list[str]:
    """Headline figures of a built warehouse, for people."""
    import duckdb

    warehouse = warehouse or settings.warehouse_path()
    with duckdb.connect(str(warehouse), read_only=True) as con:

        def scalar(sql: str):
            return con.execute(sql).fetchall()[0][0]

        customers = scalar("select count(*) from marts.dim_customers")
        records = scalar("select sum(record_count) from marts.dim_customers")
        features = scalar("select count(*) from marts.fct_customer_features")
        columns = len(con.execute("describe marts.fct_customer_features").fetchall())
        as_of = scalar("select max(as_of_at) from marts.fct_customer_features")
        orders = scalar("select count(*) from marts.fct_orders")
        reconciliation = con.execute(
            "select source_name, rows_in_files, rows_clean, rows_rejected_at_load + "
            "rows_quarantined_at_staging + rows_quarantined_after_identity, duplicates_removed, "
            "unaccounted_rows from quality.rpt_source_reconciliation order by source_name"
        ).fetchall()
        awaiting_backfill, awaiting_next_run = con.execute(
            "select coalesce(sum(rows_awaiting_backfill), 0), "
            "coalesce(sum(rows_awaiting_next_run), 0) from quality.rpt_source_reconciliation"
        ).fetchall()[0]
        segments_and_scores = _segment_and_score_lines(con)
        consent = consent_line(con)
        erasure = erasure_line(con)
        audiences = audience_lines(con)
    lines = [
        f"Warehouse: {warehouse}",
        f"  {records} CRM records resolved into {customers} customers; {orders} clean orders.",
        f"  marts.fct_customer_features: {features} customers x {columns} columns, as of {as_of}.",
        "  Row accounting per source (quality.rpt_source_reconciliation):",
        f"    {'source':<20}{'in files':>10}{'clean':>10}{'quarantined':>13}{'duplicates':>12}"
        f"{'unaccounted':>13}",
    ]
    for name, in_files, clean, quarantined, duplicates, unaccounted in reconciliation:
        counts = f"{in_files:>10}{clean:>10}{quarantined:>13}{duplicates:>12}{unaccounted:>13}"
        lines.append(f"    {name:<20}{counts}")
    if awaiting_next_run:
        lines.append(f"    {awaiting_next_run} events of later days wait for the next daily run.")
    if awaiting_backfill:
        lines.append(
            f"    {awaiting_backfill} events arrived later than the lookback and are not in the "
            "segments yet: `cible backfill` processes their days."
        )
    lines += [f"  {consent}"] if consent else []
    lines += [f"  {erasure}"] if erasure else []
    lines += segments_and_scores
    lines += audiences
    from cible.bi.dashboard import dashboard_path
    from cible.bi.publish import published_path, read_published_run

    lines += ["  Every rejected row, with its reason and payload: quality.fct_quarantined_rows"]
    published = read_published_run()
    if published is not None:
        lines += [
            f"BI copy (read-only, swapped after each run; docs/bi.md): {published_path()}",
            f"  run published at {str(published['published_at'])[:19]}, scoring run "
            f"{published['scoring_run_id']}.",
        ]
        if dashboard_path().exists():
            lines.append(f"Dashboard (EN/FR, opens offline): {dashboard_path()}")
    lines += [
        "Next: `make dev` opens the Dagster UI (http://localhost:3000);"
        " `cd dbt_project && dbt build` runs dbt alone;",
        f"      point a BI tool (DuckDB, read-only) at {published_path()} (docs/bi.md).",
    ]
    return lines


def audience_lines(con) -> list[str]:
    """One line per audience's latest export (marts.fct_audience_exports), when there is one."""
    from cible.warehouse import table_exists

    if not table_exists(con, "marts.fct_audience_exports"):
        return []
    rows = con.execute(
        "select audience, status, sent_count, held_out_count, excluded_suppressed, "
        "excluded_no_consent, excluded_no_identifier, purpose, location "
        "from marts.fct_audience_exports where is_latest order by audience"
    ).fetchall()
    if not rows:
        return []
    lines = ["  Audiences (marts.fct_audience_exports; docs/activation.md), latest export:"]
    for name, status, sent, held, suppressed, no_consent, no_contact, purpose, _ in rows:
        lines.append(
            f"    {name}: {status}, {sent} sent, {held} held out; excluded {suppressed} "
            f"suppressed, {no_consent} without {purpose} consent, {no_contact} without contact"
        )
    folders = sorted({str(Path(w.split(";")[0]).parent.parent) for *_, w in rows if "/" in w})
    lines += [f"    files under {folder}" for folder in folders]
    return lines


def consent_line(con) -> str | None:
    """How profiling consent was decided (marts.fct_customer_consents), None before it exists."""
    from cible import warehouse
    from cible.privacy.consent import CONSENT_STATE, consent_summary, describe

    if not warehouse.table_exists(con, CONSENT_STATE):
        return None
    return f"{describe(consent_summary(con))} ({CONSENT_STATE})."


def erasure_line(con) -> str | None:
    """Erasures applied and verified (privacy schema), None before the erasure step ran."""
    from cible import warehouse
    from cible.privacy.erasure import ERASURES, VERIFICATIONS

    if not warehouse.table_exists(con, ERASURES):
        return None
    rows = con.execute(
        f"""
        select e.origin, count(*), count(v.request_id), coalesce(sum(v.remaining), 0)
        from {ERASURES} e
        left join (
            select request_id, remaining,
                row_number() over (partition by request_id order by verified_at desc) as recency
            from {VERIFICATIONS}
        ) v on v.request_id = e.request_id and v.recency = 1
        group by e.origin order by e.origin
        """
    ).fetchall()
    suppressed = (
        con.execute(
            "select coalesce(sum(rows_suppressed), 0) from staging.stg_loader__load_files "
            "where (source_name, loaded_at) in (select source_name, max(loaded_at) "
            "from staging.stg_loader__load_files group by 1)"
        ).fetchall()[0][0]
        if warehouse.table_exists(con, "staging.stg_loader__load_files")
        else 0
    )
    if not rows and not suppressed:
        return "erasure: no erasure request, nobody past retention (marts.rpt_erasure_requests)."
    parts = [
        f"{count} {'requested' if origin == 'request' else 'past retention'}"
        f" ({verified} verified, {remaining} rows remaining)"
        for origin, count, verified, remaining in rows
    ]
    return (
        f"erasure: {', '.join(parts) or 'none this run'}; {suppressed} rows of erased persons"
        " kept out at the last load (marts.rpt_erasure_requests)."
    )


def _segment_and_score_lines(con) -> list[str]:
    """Segments and scores, when their marts exist (a failed quality gate leaves them unbuilt)."""
    lines: list[str] = []
    tables = {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'marts'"
        ).fetchall()
    }
    if "rpt_segment_priority" in tables:
        segments = con.execute(
            "select name_en, customers, priority_rank from marts.rpt_segment_priority "
            "where segment_kind = 'cluster' order by priority_rank"
        ).fetchall()
        lines.append(
            f"  {len(segments)} clustering segments, by priority "
            "(marts.dim_segments, marts.rpt_segment_priority):"
        )
        lines += [f"    {rank:>2}. {name} ({size} customers)" for name, size, rank in segments]
    else:
        lines.append("  No segment marts yet (see the segmentation checks in Dagster).")
    if "fct_customer_scores" in tables and "rpt_model_performance" in tables:
        scored = con.execute("select count(*) from marts.fct_customer_scores").fetchall()[0][0]
        models = con.execute(
            "select target, model_version, auc_roc from marts.rpt_model_performance "
            "where is_current order by target"
        ).fetchall()
        lines.append(f"  {scored} customers scored (marts.fct_customer_scores); models:")
        lines += [
            f"    {target}: {version}" + (f", hold-out AUC {auc:.3f}" if auc else "")
            for target, version, auc in models
        ]
    else:
        lines.append("  No score marts yet (see the scoring checks in Dagster).")
    return lines


def contract_document() -> str:
    """The source contract as Markdown, from the dbt sources files (the loader reads the same)."""
    from cible.contract import contract_markdown, load_contract, load_doc_blocks

    return contract_markdown(load_contract(), load_doc_blocks()) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["live"]:
        from cible.live.cli import main as live

        return live(argv[1:])
    parser = argparse.ArgumentParser(prog="cible", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="generate demo data, load it and build everything")
    demo.add_argument("--customers", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument(
        "--profile",
        default="maison",
        help="the generator's profile: maison (default), contrast, or a YAML file "
        "(cible/demo/README.md)",
    )
    run_command = commands.add_parser("run", help="load the landing folder and build everything")
    commands.add_parser("summary", help="print where the results are")
    load_command = commands.add_parser("load", help="only load the landing folder")
    run_command.add_argument(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="compute features as of this day (default: the day after the latest order or "
        f"event; or {settings.AS_OF_ENV})",
    )
    for command in (run_command, load_command):
        command.add_argument(
            "--accept-shrink",
            action="store_true",
            help="load a required source even if empty or much shorter than at the last load "
            f"(recorded in the load's warnings; or {settings.ACCEPT_SHRINK_ENV}=1)",
        )
    backfill_parser = commands.add_parser(
        "backfill",
        help="process again the days of events that arrived later than the lookback",
    )
    for flag in ("--from", "--to"):
        backfill_parser.add_argument(
            flag,
            dest=flag[2:],
            metavar="YYYY-MM-DD",
            type=date.fromisoformat,
            help="first/last day to process (default: the days of the late events)",
        )
    commands.add_parser("contract", help="print the source contract as Markdown")
    commands.add_parser("pii", help="print the personal data columns as Markdown")
    dev_command = commands.add_parser("dev", help="open the Dagster UI (http://localhost:3000)")
    dev_command.add_argument("--port", type=int, default=3000)
    dashboard_command = commands.add_parser(
        "dashboard", help="rebuild the dashboard from the published BI copy and print its path"
    )
    dashboard_command.add_argument(
        "--serve", action="store_true", help="then serve it on http://127.0.0.1:PORT"
    )
    dashboard_command.add_argument("--port", type=int, default=8050)
    commands.add_parser("live", help="live segments (cible live --help)", add_help=False)
    args = parser.parse_args(argv)

    if args.command == "contract":
        print(contract_document(), end="")
        return 0
    if args.command == "pii":
        from cible.privacy.personal_data import personal_data_markdown

        print(personal_data_markdown(), end="")
        return 0
    if args.command == "dev":
        return dev(args.port)
    if args.command == "dashboard":
        return dashboard(serve=args.serve, port=args.port)
    if getattr(args, "as_of", None):
        # Read by every dbt build of the run, in Dagster's process: checked here first.
        os.environ[settings.AS_OF_ENV] = args.as_of
        try:
            settings.as_of_date()
        except ValueError as error:
            print(f"cible: {error}", file=sys.stderr)
            return 2
    if getattr(args, "accept_shrink", False):
        # The load runs in a Dagster step process: the environment carries the override.
        os.environ[settings.ACCEPT_SHRINK_ENV] = "1"
    started = time.perf_counter()
    try:
        if args.command == "demo":
            from cible.demo.profile import load_profile
            from cible.yaml_config import ConfigError

            try:
                # Checked here, before Dagster starts: a bad profile is one paragraph.
                load_profile(args.profile)
            except ConfigError as error:
                print(f"cible demo: {error}", file=sys.stderr)
                return 2
            profile = (
                str(Path(args.profile).resolve()) if Path(args.profile).exists() else args.profile
            )
            config = {
                "ops": {
                    "demo_landing_files": {
                        "config": {
                            "customers": args.customers,
                            "seed": args.seed,
                            "profile": profile,
                        }
                    }
                }
            }
            materialize_all(demo=True, run_config=config)
        elif args.command == "run":
            materialize_all(demo=False)
        elif args.command == "backfill":
            if (args.__dict__["from"] is None) != (args.to is None):
                print("cible backfill: give both --from and --to, or neither.", file=sys.stderr)
                return 2
            backfill(args.__dict__["from"], args.to)
        elif args.command == "load":
            from cible import loader

            return loader.main([])
    except RunFailed as error:
        print(str(error), file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as error:
        print(
            f"cible: {Path(error.cmd[0]).name} failed (exit {error.returncode}); see above.",
            file=sys.stderr,
        )
        return 1
    if args.command in {"demo", "run", "backfill"}:
        print(f"\nPipeline finished in {time.perf_counter() - started:.0f} s.")
    print("\n".join(summary_lines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
