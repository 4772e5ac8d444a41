"""The marketer's dashboard: one self-contained HTML page written from the BI copy.

Read from the published copy (never the warehouse, which a run may be writing), aggregated in
SQL, so the page holds counts and rates only, no customer row. Charts are plotly figures;
plotly.js is inlined once, so the page opens offline. Labels in English and French: the page
switches with its EN/FR buttons or ``?lang=fr``. See docs/bi.md.
"""

from __future__ import annotations

import html
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template

import duckdb
import pandas as pd

from cible import settings
from cible.bi.publish import RUN_TABLE, published_path
from cible.files import replace_durably
from cible.warehouse import table_exists

DASHBOARD_FILE = "dashboard.html"
TEMPLATE = Path(__file__).with_name("templates") / "dashboard.html"
LANGUAGES = ("en", "fr")
EXPORTS = "marts.fct_audience_exports"
UPLIFT = "marts.rpt_audience_uplift"
SCORES = ("purchase_30d", "purchase_90d", "campaign_response", "churn_risk")
PRIORITY_CRITERIA = (
    "size",
    "expected_conversion",
    "profitability",
    "data_accessibility",
    "strategic_fit",
)
# Sections in page order: (chart id, the section it illustrates).
CHARTS = (
    "sizes",
    "profiles",
    "priority",
    "migrations",
    "stability",
    "scores",
    "drift",
    "exports",
    "uplift",
)

TEXT = {
    "en": {
        "title": "Cible: segments, scores and audiences",
        "published": "Run published at {published_at} (scoring run {scoring_run_id}, "
        "segmentation run {segment_run_id}). Aggregates only: no customer appears here.",
        "sizes": "Segments and their sizes, run by run",
        "profiles": "Segment profiles and names",
        "priority": "Priority grid (1 to 5 per criterion)",
        "migrations": "Migrations between the last two runs",
        "stability": "Stability and quality, run by run",
        "scores": "Score distributions",
        "drift": "Score drift (PSI against training)",
        "exports": "Audience exports (latest per audience)",
        "uplift": "Uplift: exported against hold-out, 95% interval",
        "no_data": "No data yet.",
        "no_export": "No export yet.",
        "no_migration": "No migration yet: the first run has no previous one.",
        "run": "Run",
        "customers": "Customers",
        "segment": "Segment",
        "description": "Description",
        "share": "Share",
        "revenue": "Revenue per customer (EUR)",
        "conversion": "Campaign conversion rate",
        "score": "Score",
        "criterion": "Criterion",
        "size": "Size",
        "expected_conversion": "Expected conversion",
        "profitability": "Profitability",
        "data_accessibility": "Data accessibility",
        "strategic_fit": "Strategic fit",
        "temporal_ari": "ARI against the previous run",
        "bootstrap_ari_mean": "Bootstrap ARI (mean)",
        "silhouette": "Silhouette",
        "before": "before",
        "now": "now",
        "entered": "New in the base",
        "left": "Left the base",
        "probability": "Predicted probability",
        "psi": "PSI",
        "psi_warn": "warning threshold",
        "psi_block": "blocking threshold",
        "measured_at": "Measured at",
        "purchase_30d": "Purchase within 30 days",
        "purchase_90d": "Purchase within 90 days",
        "campaign_response": "Campaign response",
        "churn_risk": "Churn risk",
        "audience": "Audience",
        "sent_count": "Sent",
        "held_out_count": "Held out",
        "excluded_no_consent": "Excluded: no consent",
        "excluded_suppressed": "Excluded: suppressed",
        "excluded_no_identifier": "Excluded: no identifier",
        "uplift_points": "Uplift (conversion rate points)",
        "significant": "significant",
        "not_significant": "not significant",
    },
    "fr": {
        "title": "Cible : segments, scores et audiences",
        "published": "Exécution publiée le {published_at} (scoring {scoring_run_id}, "
        "segmentation {segment_run_id}). Agrégats seulement : aucun client n'apparaît ici.",
        "sizes": "Segments et leur taille, exécution par exécution",
        "profiles": "Profils et noms des segments",
        "priority": "Grille de priorité (1 à 5 par critère)",
        "migrations": "Migrations entre les deux dernières exécutions",
        "stability": "Stabilité et qualité, exécution par exécution",
        "scores": "Distribution des scores",
        "drift": "Dérive des scores (PSI par rapport à l'entraînement)",
        "exports": "Exports d'audiences (le dernier par audience)",
        "uplift": "Uplift : exportés contre groupe témoin, intervalle à 95 %",
        "no_data": "Pas encore de données.",
        "no_export": "Aucun export.",
        "no_migration": "Pas encore de migration : la première exécution n'a pas de précédente.",
        "run": "Exécution",
        "customers": "Clients",
        "segment": "Segment",
        "description": "Description",
        "share": "Part",
        "revenue": "Chiffre d'affaires par client (EUR)",
        "conversion": "Taux de conversion des campagnes",
        "score": "Score",
        "criterion": "Critère",
        "size": "Taille",
        "expected_conversion": "Conversion attendue",
        "profitability": "Rentabilité",
        "data_accessibility": "Accessibilité des données",
        "strategic_fit": "Adéquation stratégique",
        "temporal_ari": "ARI par rapport à l'exécution précédente",
        "bootstrap_ari_mean": "ARI bootstrap (moyenne)",
        "silhouette": "Silhouette",
        "before": "avant",
        "now": "maintenant",
        "entered": "Entrés dans la base",
        "left": "Sortis de la base",
        "probability": "Probabilité prédite",
        "psi": "PSI",
        "psi_warn": "seuil d'alerte",
        "psi_block": "seuil bloquant",
        "measured_at": "Mesuré le",
        "purchase_30d": "Achat sous 30 jours",
        "purchase_90d": "Achat sous 90 jours",
        "campaign_response": "Réponse aux campagnes",
        "churn_risk": "Risque d'attrition",
        "audience": "Audience",
        "sent_count": "Envoyés",
        "held_out_count": "Groupe témoin",
        "excluded_no_consent": "Exclus : sans consentement",
        "excluded_suppressed": "Exclus : liste d'opposition",
        "excluded_no_identifier": "Exclus : sans identifiant",
        "uplift_points": "Uplift (points de taux de conversion)",
        "significant": "significatif",
        "not_significant": "non significatif",
    },
}
# The message a section shows when its data is absent or empty.
EMPTY = {"migrations": "no_migration", "exports": "no_export", "uplift": "no_export"}


@dataclass(frozen=True)
class Written:
    """A dashboard written: where, how many charts it draws, in how long."""

    path: Path
    charts: int
    seconds: float


def _frame(con: duckdb.DuckDBPyConnection, relation: str, sql: str) -> pd.DataFrame:
    """``sql`` over ``relation`` when the copy holds it, else an empty frame."""
    return con.execute(sql).df() if table_exists(con, relation) else pd.DataFrame()


def collect(con: duckdb.DuckDBPyConnection) -> dict[str, pd.DataFrame]:
    """The aggregates the page draws, read from the published copy."""
    score_bins = " union all ".join(
        f"select '{target}' as target, least(floor({target}_score * 20), 19) / 20.0 as bin, "
        f"count(*) as customers from marts.fct_customer_scores "
        f"where {target}_score is not null group by 1, 2"
        for target in SCORES
    )
    return {
        "run": _frame(con, f"main.{RUN_TABLE}", f"select * from main.{RUN_TABLE}"),
        "sizes": _frame(
            con,
            "marts.fct_segment_memberships",
            """
            select m.run_number, cast(m.as_of_at as date) as as_of, m.segment_id,
                coalesce(s.name_en, m.segment_id) as name_en,
                coalesce(s.name_fr, m.segment_id) as name_fr, count(*) as customers
            from marts.fct_segment_memberships m
            left join marts.dim_segments s on s.segment_id = m.segment_id
            where m.is_exclusive
            group by m.run_number, cast(m.as_of_at as date), m.segment_id, s.name_en, s.name_fr
            order by m.run_number, m.segment_id
            """,
        ),
        "profiles": _frame(
            con,
            "marts.dim_segments",
            """
            select segment_id, segment_kind, name_en, name_fr, description_en, description_fr,
                customers, customer_share, revenue_per_customer_eur, campaign_conversion_rate
            from marts.dim_segments where is_active
            order by case segment_kind when 'cluster' then 0 when 'rule' then 1 else 2 end,
                customers desc
            """,
        ),
        "priority": _frame(
            con,
            "marts.rpt_segment_priority",
            "select * from marts.rpt_segment_priority order by priority_rank",
        ),
        "migrations": _frame(
            con,
            "marts.fct_segment_migrations",
            """
            select m.from_segment_id, m.to_segment_id, sum(m.customers) as customers,
                max(f.name_en) as from_en, max(f.name_fr) as from_fr,
                max(t.name_en) as to_en, max(t.name_fr) as to_fr
            from marts.fct_segment_migrations m
            left join marts.dim_segments f on f.segment_id = m.from_segment_id
            left join marts.dim_segments t on t.segment_id = m.to_segment_id
            where m.is_current_run
            group by m.from_segment_id, m.to_segment_id
            """,
        ),
        "stability": _frame(
            con,
            "marts.rpt_segment_quality",
            """
            select run_number, temporal_ari, bootstrap_ari_mean, silhouette
            from marts.rpt_segment_quality where is_published order by run_number
            """,
        ),
        "scores": _frame(con, "marts.fct_customer_scores", score_bins + " order by 1, 2"),
        "drift": _frame(
            con,
            "marts.rpt_score_drift",
            "select target, measured_at, score_psi, psi_warn, psi_block "
            "from marts.rpt_score_drift order by measured_at",
        ),
        "exports": _frame(
            con,
            EXPORTS,
            f"""
            select audience, sent_count, held_out_count, excluded_no_consent,
                excluded_suppressed, excluded_no_identifier
            from (
                select *, row_number() over (
                    partition by audience order by exported_at desc) as recency
                from {EXPORTS}
            ) latest where recency = 1 order by audience
            """,
        ),
        "uplift": _frame(
            con,
            UPLIFT,
            f"""
            select audience, uplift, ci_low, ci_high, is_significant, window_days
            from (
                select *, row_number() over (
                    partition by audience order by exported_at desc) as recency
                from {UPLIFT} where uplift is not null
            ) latest where recency = 1 order by audience
            """,
        ),
    }


def _layout(figure, t: dict, x: str | None = None, y: str | None = None, height: int = 420):
    figure.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 20, "t": 30, "b": 60},
        legend={"orientation": "h", "y": -0.2},
        xaxis_title=t[x] if x else None,
        yaxis_title=t[y] if y else None,
    )
    # Long segment names on a y axis: room made for them rather than cut.
    figure.update_yaxes(automargin=True)
    return figure


def _flow_ends(migrations: pd.DataFrame, end: str, lang: str, when: str, outside: str):
    """The Sankey node of each migration's `from` or `to` end: the segment's name with when,
    or `outside` (entered or left the base) when the customer had no segment then."""
    ids = migrations[f"{end}_segment_id"]
    labels = migrations[f"{end}_{lang}"].fillna(ids)
    return [
        f"{label} ({when})" if pd.notna(segment) else outside
        for segment, label in zip(ids, labels, strict=True)
    ]


def figures(data: dict[str, pd.DataFrame], lang: str) -> dict[str, object]:
    """Chart id -> plotly figure in ``lang``; a section without data is left out."""
    import plotly.graph_objects as go

    t = TEXT[lang]
    name = f"name_{lang}"
    made: dict[str, object] = {}

    sizes = data["sizes"]
    if not sizes.empty:
        sizes = sizes.assign(
            label=[
                f"{t['run']} {n} ({d:%Y-%m-%d})"
                for n, d in zip(sizes["run_number"], sizes["as_of"], strict=True)
            ]
        )
        figure = go.Figure(
            [
                go.Bar(x=rows["label"], y=rows["customers"], name=rows[name].iloc[0])
                for _, rows in sizes.groupby("segment_id", sort=False)
            ]
        )
        made["sizes"] = _layout(figure.update_layout(barmode="stack"), t, "run", "customers")

    profiles = data["profiles"]
    if not profiles.empty:
        values = [
            profiles[name],
            profiles[f"description_{lang}"].fillna(""),
            profiles["customers"],
            (profiles["customer_share"] * 100).round(1).astype(str) + " %",
            profiles["revenue_per_customer_eur"].round(0),
            (profiles["campaign_conversion_rate"] * 100).round(1).astype(str) + " %",
        ]
        headers = ["segment", "description", "customers", "share", "revenue", "conversion"]
        figure = go.Figure(
            go.Table(
                columnwidth=[3, 6, 1.2, 1.2, 1.6, 1.6],
                header={"values": [t[h] for h in headers], "align": "left"},
                cells={"values": values, "align": "left"},
            )
        )
        made["profiles"] = _layout(figure, t, height=max(420, 40 + 34 * len(profiles)))

    priority = data["priority"]
    if not priority.empty:
        figure = go.Figure(
            go.Heatmap(
                z=priority[[f"{c}_score" for c in PRIORITY_CRITERIA]].to_numpy(),
                x=[t[c] for c in PRIORITY_CRITERIA],
                y=[
                    f"{r}. {n}"
                    for r, n in zip(priority["priority_rank"], priority[name], strict=True)
                ],
                zmin=1,
                zmax=5,
                colorscale="Blues",
                texttemplate="%{z}",
            )
        )
        figure.update_yaxes(autorange="reversed")
        made["priority"] = _layout(figure, t, "criterion", height=max(420, 30 * len(priority)))

    migrations = data["migrations"]
    if not migrations.empty:
        sources = _flow_ends(migrations, "from", lang, t["before"], t["entered"])
        targets = _flow_ends(migrations, "to", lang, t["now"], t["left"])
        nodes = list(dict.fromkeys([*sources, *targets]))
        index = {node: i for i, node in enumerate(nodes)}
        figure = go.Figure(
            go.Sankey(
                node={"label": nodes, "pad": 12},
                link={
                    "source": [index[s] for s in sources],
                    "target": [index[s] for s in targets],
                    "value": migrations["customers"].tolist(),
                },
            )
        )
        made["migrations"] = _layout(figure, t, height=560)

    stability = data["stability"]
    if not stability.empty:
        figure = go.Figure(
            [
                go.Scatter(
                    x=stability["run_number"],
                    y=stability[measure],
                    name=t[measure],
                    mode="lines+markers",
                )
                for measure in ("temporal_ari", "bootstrap_ari_mean", "silhouette")
            ]
        )
        figure.update_xaxes(dtick=1)
        made["stability"] = _layout(figure, t, "run", "score")

    scores = data["scores"]
    if not scores.empty:
        figure = go.Figure(
            [
                go.Bar(x=rows["bin"] + 0.025, y=rows["customers"], name=t[target], opacity=0.6)
                for target, rows in scores.groupby("target", sort=False)
            ]
        )
        figure.update_layout(barmode="overlay", bargap=0.05)
        made["scores"] = _layout(figure, t, "probability", "customers")

    drift = data["drift"]
    if not drift.empty:
        figure = go.Figure(
            [
                go.Scatter(
                    x=rows["measured_at"],
                    y=rows["score_psi"],
                    name=t.get(target, target),
                    mode="lines+markers",
                )
                for target, rows in drift.groupby("target", sort=False)
            ]
        )
        for threshold in ("psi_warn", "psi_block"):
            figure.add_hline(
                y=float(drift[threshold].iloc[-1]),
                line_dash="dot",
                annotation_text=t[threshold],
            )
        made["drift"] = _layout(figure, t, "measured_at", "psi")

    exports = data["exports"]
    if not exports.empty:
        figure = go.Figure(
            [
                go.Bar(x=exports["audience"], y=exports[column], name=t[column])
                for column in (
                    "sent_count",
                    "held_out_count",
                    "excluded_no_consent",
                    "excluded_suppressed",
                    "excluded_no_identifier",
                )
            ]
        )
        made["exports"] = _layout(figure.update_layout(barmode="stack"), t, "audience", "customers")

    uplift = data["uplift"]
    if not uplift.empty:
        significant = uplift["is_significant"].fillna(False).astype(bool)
        figure = go.Figure(
            go.Scatter(
                x=uplift["audience"],
                y=uplift["uplift"] * 100,
                mode="markers",
                marker={"size": 12, "color": ["#1f77b4" if s else "#999" for s in significant]},
                text=[t["significant"] if s else t["not_significant"] for s in significant],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": (uplift["ci_high"] - uplift["uplift"]) * 100,
                    "arrayminus": (uplift["uplift"] - uplift["ci_low"]) * 100,
                },
            )
        )
        figure.add_hline(y=0, line_color="#444")
        made["uplift"] = _layout(figure, t, "audience", "uplift_points")
    return made


def _script_json(value) -> str:
    """JSON safe inside a <script> element."""
    return value.replace("</", "<\\/")


def render(data: dict[str, pd.DataFrame]) -> tuple[str, int]:
    """The whole page (plotly.js inlined once, the figures of both languages as JSON), and
    how many charts it draws."""
    import plotly.io
    import plotly.offline

    run = data["run"].iloc[0].to_dict() if not data["run"].empty else {}
    texts = {
        lang: {
            **TEXT[lang],
            "published": TEXT[lang]["published"].format(
                published_at=f"{run.get('published_at', '')}"[:19] or "?",
                scoring_run_id=run.get("scoring_run_id") or "?",
                segment_run_id=run.get("segment_run_id") or "?",
            ),
        }
        for lang in LANGUAGES
    }
    charts = {
        lang: {
            chart: json.loads(plotly.io.to_json(figure, validate=False))
            for chart, figure in figures(data, lang).items()
        }
        for lang in LANGUAGES
    }
    sections = "\n".join(
        f'<section id="{chart}"><h2 data-t="{chart}">{html.escape(TEXT["en"][chart])}</h2>'
        f'<div class="chart" data-chart="{chart}" data-empty="{EMPTY.get(chart, "no_data")}">'
        "</div></section>"
        for chart in CHARTS
    )
    page = Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        plotly_js=plotly.offline.get_plotlyjs(),
        texts=_script_json(json.dumps(texts, ensure_ascii=False)),
        charts=_script_json(json.dumps(charts, ensure_ascii=False)),
        sections=sections,
        title=html.escape(TEXT["en"]["title"]),
    )
    return page, len(charts["en"])


def dashboard_path() -> Path:
    """The dashboard page (``<CIBLE_PUBLISHED_DIR>/dashboard.html``)."""
    return settings.published_dir() / DASHBOARD_FILE


def write_dashboard(published: Path | None = None, output: Path | None = None) -> Written:
    """Write the page from the published copy, replacing the previous one atomically.

    Raises:
        FileNotFoundError: nothing is published yet; the message says how to publish.
    """
    started = time.perf_counter()
    published = Path(published) if published is not None else published_path()
    output = Path(output) if output is not None else dashboard_path()
    if not published.exists():
        raise FileNotFoundError(
            f"no BI copy at {published}: run the pipeline (`cible run`, or materialize "
            f"bi/published_marts) to publish one, or set {settings.PUBLISHED_DIR_ENV}"
        )
    with duckdb.connect(str(published), read_only=True) as con:
        data = collect(con)
    page, charts = render(data)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.with_name(f"{output.name}.tmp-{os.getpid()}")
    staging.write_text(page, encoding="utf-8")
    replace_durably(staging, output)
    return Written(output, charts, time.perf_counter() - started)
