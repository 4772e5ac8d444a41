"""Every read and write of scoring, and the jobs that run them around the pure cores.

Scoring reads marts only (`fct_customer_features` and its training snapshots, `fct_orders`,
`fct_campaign_events`) and appends to the `ml` tables, declared once as the `scoring` source
(`dbt_project/models/staging/scoring/_scoring__sources.yml`), which dbt reads back: the
registry's index, metrics, curves and importances per model version, and scores, lifetime
values and drift per scoring run (runs beyond `scoring.keep_runs` are purged from the scores
tables).

A job (:func:`plan`, :func:`train_and_publish`, :func:`score_and_publish`,
:func:`update_online_models`) holds one connection from its first read to its last write,
through a :class:`ScoringStore`; :mod:`ml.scoring.training` and :mod:`ml.scoring.scoring`
compute in between.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import duckdb
import pandas as pd
from cible.ml.scoring.config import ScoringConfig
from cible.ml.scoring.features import check_features
from cible.ml.scoring.labels import TrainingDataError
from cible.ml.scoring.lifetime_value import LifetimeValueModel
from cible.ml.scoring.metrics import curves, metric_rows
from cible.ml.scoring.models import ClassifierModel, OnlineModel
from cible.ml.scoring.online import ONLINE_FAMILY, OnlineUpdate, update_candidate
from cible.ml.scoring.registry import ModelRegistry, code_version
from cible.ml.scoring.scoring import (
    PublishedVersion,
    ScoringOutcome,
    classifiers,
    input_columns,
    score_customers,
)
from cible.ml.scoring.training import (
    TrainedVersion,
    TrainingOutcome,
    TrainingPlan,
    TrainingSet,
    check_snapshot,
    plan_training,
    stop_worker_processes,
    train_classifier_target,
    train_lifetime_value,
    training_set,
)

from cible import warehouse
from cible.contract import TableSpec, load_tables
from cible.privacy.consent import profiling_allowed_sql, require_consent_state

SCHEMA = "ml"
SOURCE_NAME = "scoring"
FEATURES = "marts.fct_customer_features"
ORDERS = "marts.fct_orders"
CAMPAIGN_EVENTS = "marts.fct_campaign_events"
DRIFT_SAMPLE_ROWS = 200_000
# Scoring runs are purged from these tables beyond `scoring.keep_runs`.
RUN_TABLES = ("customer_scores", "customer_lifetime_values")


def declared_tables() -> dict[str, TableSpec]:
    """The `ml` tables scoring writes, as the ``scoring`` source declares them."""
    return {
        name: spec for name, spec in load_tables(SCHEMA).items() if spec.source_name == SOURCE_NAME
    }


def snapshot_relation(plan: TrainingPlan) -> str:
    """The feature snapshot a classifier's plan trains on."""
    return f"{plan.schema_prefix}{FEATURES}"


def snapshots(plans: list[TrainingPlan]) -> dict[str, dict[str, str]]:
    """The distinct feature snapshots the plans need: relation -> dbt vars."""
    return {snapshot_relation(p): p.dbt_vars() for p in plans if p.schema_prefix is not None}


class ScoringStore:
    """The reads and writes of a scoring step, on the step's one connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.con = con
        self.tables = declared_tables()

    @classmethod
    @contextmanager
    def open(
        cls, warehouse_path: Path | None = None, read_only: bool = False
    ) -> Iterator[ScoringStore]:
        """A store on a new connection to the warehouse, closed when the block ends."""
        with warehouse.connect(warehouse_path, read_only=read_only) as con:
            yield cls(con)

    def _one(self, sql: str, params: list | None = None):
        return self.con.execute(sql, params or []).fetchall()[0][0]

    @cached_property
    def allowed(self) -> str:
        """The condition every read of customers' data carries: the customers the consent
        state allows to be profiled (training and scored populations, lifetime value, drift).
        Checked once per store: a job holds one connection from its first read to its last.

        Raises:
            ConsentStateError: there is no consent state to obey.
        """
        require_consent_state(self.con)
        return profiling_allowed_sql()

    # ---------- marts

    def current_as_of(self) -> pd.Timestamp:
        """The as-of date of the current features (the exclusive end of the known data)."""
        value = self._one(f"select max(as_of_at) from {FEATURES}")
        if value is None:
            raise TrainingDataError(f"{FEATURES} is empty: build the warehouse first")
        return pd.Timestamp(value)

    def first_order_at(self) -> pd.Timestamp | None:
        value = self._one(f"select min(ordered_at) from {ORDERS}")
        return None if value is None else pd.Timestamp(value)

    def read_snapshot(self, plan: TrainingPlan) -> pd.DataFrame:
        """The feature snapshot of a plan, indexed by customer_id, checked to be as of its
        cutoff.

        Raises:
            TrainingDataError: the snapshot is missing or as of another date.
        """
        relation = snapshot_relation(plan)
        rebuild = (
            "materialize `training_features` (a dbt run of the as-of models with the vars "
            f"{plan.dbt_vars()})"
        )
        if not warehouse.table_exists(self.con, relation):
            raise TrainingDataError(
                f"target {plan.target.name}: the training snapshot {relation} does not exist; "
                f"{rebuild}"
            )
        # Ordered, so that the same data always gives the same splits and folds. Only the
        # customers the consent state allows today: a model is trained now.
        features = self.con.execute(
            f"select * from {relation} where {self.allowed} order by customer_id"
        ).df()
        check_snapshot(plan, features, rebuild)
        return features.set_index("customer_id")

    def read_orders(
        self, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None
    ) -> pd.DataFrame:
        """Orders (customer, time, amount in euros) in [start, end), either bound optional."""
        conditions, params = [self.allowed], []
        if start is not None:
            conditions.append("ordered_at >= ?")
            params.append(start)
        if end is not None:
            conditions.append("ordered_at < ?")
            params.append(end)
        where = f" where {' and '.join(conditions)}" if conditions else ""
        return self.con.execute(
            f"select customer_id, ordered_at, cast(amount as double) as amount from {ORDERS}"
            + where,
            params,
        ).df()

    def read_campaign_events(self, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
        """Campaign events of known customers in [start, end)."""
        return self.con.execute(
            f"select customer_id, event_type, occurred_at from {CAMPAIGN_EVENTS} "
            f"where occurred_at >= ? and occurred_at < ? and {self.allowed}",
            [start, end],
        ).df()

    def feature_columns(self) -> list[str]:
        return [row[0] for row in self.con.execute(f"describe {FEATURES}").fetchall()]

    def feature_batches(self, columns: list[str], batch_rows: int) -> Iterator[pd.DataFrame]:
        """The current features, a batch of about `batch_rows` customers at a time. The
        connection runs nothing else until the batches are exhausted."""
        vectors = max(batch_rows // 2048, 1)
        select = ", ".join(dict.fromkeys(["customer_id", *columns]))
        result = self.con.execute(
            f"select {select} from {FEATURES} where {self.allowed} order by customer_id"
        )
        while True:
            chunk = result.fetch_df_chunk(vectors)
            if chunk.empty:
                break
            yield chunk

    def input_fingerprint(self, columns: list[str], with_orders: bool) -> str:
        """A hash of what a scoring run reads: the current features (these columns) of the
        customers it may profile, and their orders when lifetime value is scored. Two runs
        share it only when they read the same data."""
        select = ", ".join(f'"{column}"' for column in dict.fromkeys(["customer_id", *columns]))
        parts = [
            self.con.execute(
                f"select max(as_of_at), count(*), sum(hash({select})) from {FEATURES} "
                f"where {self.allowed}"
            ).fetchall()[0]
        ]
        if with_orders:
            parts += self.con.execute(
                "select count(*), sum(hash(customer_id, ordered_at, amount)) "
                f"from {ORDERS} where {self.allowed}"
            ).fetchall()
        text = f"{select}|{parts}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def drift_sample(self, columns: list[str]) -> pd.DataFrame:
        """Up to `DRIFT_SAMPLE_ROWS` customers' current features, a repeatable sample."""
        total = self._one(f"select count(*) from {FEATURES} where {self.allowed}")
        sample = (
            f" using sample reservoir({DRIFT_SAMPLE_ROWS} rows) repeatable (42)"
            if total > DRIFT_SAMPLE_ROWS
            else ""
        )
        select = ", ".join(dict.fromkeys(columns))
        return self.con.execute(
            f"select {select} from (select * from {FEATURES} where {self.allowed}){sample}"
        ).df()

    # ---------- ml tables

    def append(self, table: str, frame: pd.DataFrame) -> int:
        """Append rows to an `ml` table (created on first use); returns the rows written."""
        return warehouse.append_declared(self.con, frame, self.tables[table])

    def latest_run(self) -> tuple[str, set[str], set[str]] | None:
        """The latest run whose scores or values were written (a blocked run wrote only its
        drift): its id, its input fingerprints (one, or none when an earlier Cible wrote it)
        and its model versions."""
        parts = []
        for table in RUN_TABLES:
            spec = self.tables[table]
            if warehouse.table_exists(self.con, spec.relation):
                # A table an earlier Cible created gets the columns declared since.
                warehouse.create_declared_table(self.con, spec)
                parts.append(
                    "select scoring_run_id, scored_at, input_fingerprint, model_version "
                    f"from {spec.relation}"
                )
        if not parts:
            return None
        rows = self.con.execute(
            f"with runs as ({' union all '.join(parts)}), latest as (select scoring_run_id "
            "from runs order by scored_at desc, scoring_run_id desc limit 1) "
            "select distinct scoring_run_id, input_fingerprint, model_version "
            "from runs join latest using (scoring_run_id)"
        ).fetchall()
        if not rows:
            return None
        return rows[0][0], {row[1] for row in rows if row[1]}, {row[2] for row in rows}

    def delete_run(self, run_id: str) -> None:
        """Delete a scoring run's scores, values and drift."""
        for table in (*RUN_TABLES, "feature_drift"):
            relation = self.tables[table].relation
            if warehouse.table_exists(self.con, relation):
                self.con.execute(f"delete from {relation} where scoring_run_id = ?", [run_id])

    def purge_old_runs(self, keep_runs: int) -> int:
        """Delete scoring runs beyond the `keep_runs` most recent; returns runs deleted."""
        scores = self.tables["customer_scores"].relation
        if not warehouse.table_exists(self.con, scores):
            return 0
        runs = [
            row[0]
            for row in self.con.execute(
                f"select scoring_run_id from {scores} group by scoring_run_id "
                "order by max(scored_at) desc"
            ).fetchall()
        ]
        for run in runs[keep_runs:]:
            for table in RUN_TABLES:
                relation = self.tables[table].relation
                if warehouse.table_exists(self.con, relation):
                    self.con.execute(f"delete from {relation} where scoring_run_id = ?", [run])
        return len(runs[keep_runs:])

    # ---------- the registry's index

    def registry_rows(self, target: str | None = None) -> pd.DataFrame:
        """`ml.model_registry`, oldest first (all targets, or one); empty before training."""
        spec = self.tables["model_registry"]
        if not warehouse.table_exists(self.con, spec.relation):
            return pd.DataFrame(columns=list(spec.column_names))
        where, params = ("", []) if target is None else (" where target = ?", [target])
        return self.con.execute(
            f"select * from {spec.relation}{where} order by trained_at, model_version", params
        ).df()

    def add_registry_row(self, row: dict) -> None:
        self.append("model_registry", pd.DataFrame([row]))

    def update_registry_row(self, model_version: str, **values) -> None:
        """Set columns of one version's row."""
        spec = self.tables["model_registry"]
        unknown = sorted(set(values) - set(spec.column_names))
        if unknown:
            raise ValueError(f"{spec.relation} has no column(s) {unknown}")
        assignments = ", ".join(f"{column} = ?" for column in values)
        self.con.execute(
            f"update {spec.relation} set {assignments} where model_version = ?",
            [*values.values(), model_version],
        )


# ---------- jobs


def plan(config: ScoringConfig, warehouse_path: Path | None = None) -> list[TrainingPlan]:
    """The training plans of the configured targets, from the current data (read-only)."""
    with ScoringStore.open(warehouse_path, read_only=True) as store:
        return plan_training(config, store.current_as_of(), store.first_order_at())


def read_training_set(
    store: ScoringStore, training_plan: TrainingPlan, config: ScoringConfig
) -> TrainingSet:
    """A classifier's snapshot, label-window orders and campaign events, as a training set."""
    snapshot = store.read_snapshot(training_plan)
    start, end = training_plan.label_window
    events = None
    if training_plan.target.kind == "campaign_response":
        events = store.read_campaign_events(training_plan.cutoff, end)
    return training_set(training_plan, config, snapshot, store.read_orders(start, end), events)


class TrainingOutcomes(list):
    """The outcomes of a training job (a list of :class:`TrainingOutcome`), and the targets it
    skipped because the data cannot train them, each with the reason."""

    def __init__(self, outcomes=(), skipped: dict[str, str] | None = None):
        super().__init__(outcomes)
        self.skipped = dict(skipped or {})


def train_and_publish(
    config: ScoringConfig, models_dir: Path, warehouse_path: Path | None = None
) -> TrainingOutcomes:
    """Train every configured target (the snapshots must exist), register each version, and
    promote those whose gates pass; the versions' rows go to the `ml` tables.

    A target the data cannot train (too short a history for its horizon, no campaign for a
    response target, too few labels) is skipped with its reason (``.skipped``) and the others
    are trained: an orders-only dataset still gets its purchase models and lifetime value.

    Raises:
        TrainingDataError: no target at all can be trained (every reason listed).
    """
    skipped: dict[str, str] = {}
    with ScoringStore.open(warehouse_path) as store:
        registry = ModelRegistry(models_dir, store)
        as_of, first_order = store.current_as_of(), store.first_order_at()
        plans = []
        for name, target in config.targets.items():
            alone = config.model_copy(update={"targets": {name: target}})
            try:
                plans += plan_training(alone, as_of, first_order)
            except TrainingDataError as error:
                skipped[name] = str(error)
        outcomes = TrainingOutcomes(skipped=skipped)
        try:
            for training_plan in plans:
                try:
                    trained = _train(store, training_plan, config)
                except TrainingDataError as error:
                    skipped[training_plan.target.name] = str(error)
                    continue
                outcomes.append(_register(store, registry, trained))
            if skipped:
                # Kept with the versions, so rpt_model_performance shows every target of the
                # run, trained or not, and why (issue #16: only a WARN check said so).
                store.append(
                    "training_skips",
                    pd.DataFrame(
                        {
                            "target": list(skipped),
                            "reason": list(skipped.values()),
                            "skipped_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
                        }
                    ),
                )
        finally:
            stop_worker_processes()
    outcomes.skipped = skipped
    if not outcomes and skipped:
        raise TrainingDataError("\n".join(skipped.values()))
    return outcomes


def _train(store: ScoringStore, training_plan, config: ScoringConfig) -> TrainedVersion:
    if training_plan.target.is_classifier:
        data = read_training_set(store, training_plan, config)
        return train_classifier_target(training_plan, config, data)
    holdout_end = training_plan.cutoff + pd.Timedelta(days=training_plan.target.holdout_days)
    orders = store.read_orders(end=holdout_end)
    return train_lifetime_value(training_plan, config, orders)


def _register(
    store: ScoringStore, registry: ModelRegistry, trained: TrainedVersion
) -> TrainingOutcome:
    target = trained.target
    version = registry.register(
        target.name,
        target.kind,
        trained.model_family,
        trained.model,
        trained.metadata,
        tables=trained.evaluation,
        extra_artefacts={"online": trained.online} if trained.online is not None else None,
    )
    version = registry.decide(version.model_version, trained.failures)
    for table, rows in trained.rows.items():
        store.append(table, rows.assign(model_version=version.model_version))
    return TrainingOutcome(
        target=target.name,
        version=version,
        metrics=trained.metrics,
        failures=trained.failures,
        curves=trained.evaluation.get("curves", pd.DataFrame()),
        importances=trained.evaluation.get("importances", pd.DataFrame()),
        details=trained.details,
    )


def published_versions(
    config: ScoringConfig, registry: ModelRegistry, feature_columns: list[str]
) -> tuple[dict[str, PublishedVersion], dict[str, str]]:
    """Each target's promoted version, loaded; and the targets skipped, with the reason.

    Raises:
        TrainingDataError: the feature table lost a column a promoted model needs.
    """
    published, skipped = {}, {}
    for target in config.targets.values():
        version = registry.current(target.name)
        if version is None:
            skipped[target.name] = "no promoted version"
            continue
        model, _ = registry.load(version.model_version)
        expected = ClassifierModel if target.is_classifier else LifetimeValueModel
        if not isinstance(model, expected):
            skipped[target.name] = (
                f"{version.model_version} was saved by an earlier Cible in another format: "
                "retrain it (materialize `scoring_models`)"
            )
            continue
        if target.is_classifier:
            check_features(feature_columns, model.features, f"model {version.model_version}")
        published[target.name] = PublishedVersion(version.model_version, model)
    return published, skipped


# What a scoring run whose drift blocks does not publish.
BLOCKED_BY_DRIFT = ("customer_scores", "customer_lifetime_values")


def score_and_publish(
    config: ScoringConfig,
    models_dir: Path,
    warehouse_path: Path | None = None,
    scored_at: pd.Timestamp | None = None,
) -> ScoringOutcome:
    """Score every current customer with each target's promoted version; append the scores,
    lifetime values and drift of this run to the `ml` tables. A target without a promoted
    version is skipped (the outcome says so); the others are scored. A run whose drift blocks
    (`drift.psi_block`) appends its drift only: the published scores stay the last good run's."""
    with ScoringStore.open(warehouse_path) as store:
        return score_on(store, config, models_dir, scored_at)


def score_on(
    store: ScoringStore,
    config: ScoringConfig,
    models_dir: Path,
    scored_at: pd.Timestamp | None = None,
) -> ScoringOutcome:
    """:func:`score_and_publish` on a store whose connection the caller holds (a dbt Python
    model's)."""
    scored_at = scored_at or pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s")
    as_of = store.current_as_of()
    published, skipped = published_versions(
        config, ModelRegistry(models_dir, store), store.feature_columns()
    )
    columns = input_columns(published)
    sample = store.drift_sample(columns) if classifiers(published) else pd.DataFrame()
    ltv = config.lifetime_value_target
    orders = store.read_orders(end=as_of) if ltv is not None and ltv.name in published else None
    outcome = score_customers(
        config,
        published,
        skipped,
        store.feature_batches(columns, config.scoring.batch_rows),
        sample,
        orders,
        as_of,
        scored_at,
    )
    fingerprint = store.input_fingerprint(columns, orders is not None)
    # One run per data and versions: a run that repeats the latest written one (the same
    # input, scored by the same versions: a daily run killed after its scoring step, `dbt
    # build` twice with no new data) replaces it, so a rerun leaves the history one
    # uninterrupted run would have. A blocked run never replaces a run whose scores stand.
    latest = None if outcome.blocked else store.latest_run()
    if latest is not None:
        run_id, fingerprints, versions = latest
        if fingerprints == {fingerprint} and versions == set(outcome.versions.values()):
            outcome.replaced_run_id = run_id
    store.con.execute("begin transaction")
    try:
        if outcome.replaced_run_id is not None:
            store.delete_run(outcome.replaced_run_id)
        for table, rows in outcome.tables.items():
            # A blocking drift keeps the run's scores and values out of the `ml` tables, so
            # the marts (and the next `dbt build`) keep the last run that passed; the drift
            # rows are written, to show why.
            if outcome.blocked and table in BLOCKED_BY_DRIFT:
                continue
            if table in RUN_TABLES:
                rows = rows.assign(input_fingerprint=fingerprint)
            store.append(table, rows)
        store.purge_old_runs(config.scoring.keep_runs)
        store.con.execute("commit")
    except BaseException:
        store.con.execute("rollback")
        raise
    return outcome


def online_plans(config: ScoringConfig, store: ScoringStore) -> dict[str, TrainingPlan]:
    """The newest labelled window of each online target: its plan as of the current data."""
    targets = config.incremental.targets if config.incremental.enabled else ()
    if not targets:
        return {}
    online_only = config.subset(list(targets))
    # Online updates learn the newest labelled window whatever window the batch training uses
    # (`training.label_window`): that is what they add between retrainings.
    latest = online_only.training.model_copy(update={"label_window": "latest"})
    online_only = online_only.model_copy(update={"training": latest})
    plans = plan_training(online_only, store.current_as_of(), store.first_order_at())
    return {p.target.name: p for p in plans}


def stale_online_snapshots(
    config: ScoringConfig, warehouse_path: Path | None = None
) -> dict[str, dict[str, str]]:
    """The training snapshots an online update needs that are missing or as of an older
    cutoff (the weekly training builds them; between trainings the window moves on): relation
    -> dbt vars, for the caller to build before :func:`update_online_models`."""
    stale = {}
    with ScoringStore.open(warehouse_path, read_only=True) as store:
        for newest in online_plans(config, store).values():
            relation = snapshot_relation(newest)
            if warehouse.table_exists(store.con, relation):
                dates = store.con.execute(
                    f"select distinct as_of_at from {relation} limit 2"
                ).fetchall()
                if [pd.Timestamp(row[0]) for row in dates] == [newest.cutoff]:
                    continue
            stale[relation] = newest.dbt_vars()
    return stale


def lineage(registry: ModelRegistry, root: str) -> tuple[pd.Index, pd.Index]:
    """The customers a lineage's batch version held out, and those it learnt from (its
    evaluation and out-of-fold tables)."""
    return tuple(
        pd.Index(registry.table(root, table)["customer_id"])
        for table in ("evaluation", "out_of_fold")
    )


def update_online_models(
    config: ScoringConfig, models_dir: Path, warehouse_path: Path | None = None
) -> pd.DataFrame:
    """Teach each published version's online model the newest labelled window, and publish it
    as a new version when it beats the published one (:mod:`ml.scoring.online`).

    The newest window is the training snapshot as of now minus the horizon; when its cutoff
    is later than the online model's, the model learns from its customers outside the held-out
    ones, is calibrated, and is registered as a version of family `online_sgd` (its metadata
    names the version it derives from, the window, both AUCs, the rows). With
    `incremental.publish`, that version goes through the gates of any version plus one: an AUC
    on the held-out customers at least `incremental.min_auc_gain` above the published
    version's on the same customers. Passing, it is promoted (and scores, in batch and live);
    failing, it is kept as `rejected` with the reason, and the published version stays. Either
    way the published version's online model keeps what it learnt, for the next window.

    Returns:
        One row per target: `status` (`published`, `kept`, `updated` when publishing is off,
        `no new outcomes`, `no online model`, `skipped: ...`), `message` (what happened, in a
        sentence), the versions involved and the figures.
    """
    targets = config.incremental.targets if config.incremental.enabled else ()
    rows = []
    with ScoringStore.open(warehouse_path) as store:
        registry = ModelRegistry(models_dir, store)
        plans = online_plans(config, store) if targets else {}
        for name in targets:
            rows.append(_update_online_model(store, registry, config, name, plans[name]))
    return pd.DataFrame(rows)


def _update_online_model(
    store: ScoringStore,
    registry: ModelRegistry,
    config: ScoringConfig,
    name: str,
    newest: TrainingPlan,
) -> dict:
    version = registry.current(name)
    online = registry.load_extra(version.model_version, "online") if version else None
    if not isinstance(online, OnlineModel):
        published = f"{version.model_version} has" if version else "no published version, so"
        return {
            "target": name,
            "status": "no online model",
            "message": f"{name}: {published} no online model to update",
        }
    current = version.model_version
    row = {"target": name, "model_version": current}
    if newest.cutoff <= online.cutoff:
        return {
            **row,
            "status": "no new outcomes",
            "cutoff": online.cutoff,
            "message": f"{name}: kept {current}, no outcome newer than "
            f"{online.cutoff:%Y-%m-%d} to learn from",
        }
    published, _ = registry.load(current)
    if not isinstance(published, ClassifierModel):
        return {
            **row,
            "status": f"skipped: {current} was saved in another format",
            "message": f"{name}: kept {current}, saved by an earlier Cible: retrain it",
        }
    try:
        data = read_training_set(store, newest, config)
        online.lineage = online.lineage or current
        sides = lineage(registry, online.lineage)
        update = update_candidate(online, data, newest, published, current, config, sides)
    except (TrainingDataError, FileNotFoundError) as error:
        # FileNotFoundError: the lineage's batch version lost its evaluation tables.
        return {**row, "status": f"skipped: {error}", "message": f"{name}: kept {current}, {error}"}
    # The published version's online model keeps learning whatever is decided (and a version
    # rolled back to later does not relearn this window).
    registry.save_extra(current, "online", update.online)
    figures = {**row, "cutoff": newest.cutoff, **update.figures}
    if not config.incremental.publish:
        store.append(
            "model_metrics",
            metric_rows(name, "online_update", update.figures).assign(model_version=current),
        )
        return {
            **figures,
            "status": "updated",
            "message": f"{name}: kept {current}, online model updated in shadow "
            f"(incremental.publish is false): AUC {update.figures['online_auc_after']:.3f} vs "
            f"{update.figures['published_auc']:.3f}",
        }
    candidate = registry.register(
        name,
        newest.target.kind,
        ONLINE_FAMILY,
        update.candidate,
        _online_metadata(config, newest, current, update),
        tables={
            "evaluation": update.evaluation,
            "out_of_fold": update.out_of_fold,
            "curves": _curves(update.evaluation),
        },
        extra_artefacts={"online": update.online},
    )
    candidate = registry.decide(candidate.model_version, update.failures)
    new = candidate.model_version
    store.append(
        "model_metrics",
        pd.concat(
            [
                metric_rows(name, "test", update.metrics),
                metric_rows(name, "online_update", update.figures),
            ],
            ignore_index=True,
        ).assign(model_version=new),
    )
    store.append("model_curves", _curves(update.evaluation).assign(target=name, model_version=new))
    auc, before = update.figures["online_auc_after"], update.figures["published_auc"]
    if update.beats:
        status, message = (
            "published",
            f"{name}: published {new} (online_sgd from {current}, window as of "
            f"{newest.cutoff:%Y-%m-%d}): AUC {auc:.3f} vs {before:.3f}",
        )
    else:
        status, message = (
            "kept",
            f"{name}: kept {current}, {new} rejected: {'; '.join(update.failures)}",
        )
    return {**figures, "status": status, "new_version": new, "message": message}


def _curves(evaluation: pd.DataFrame) -> pd.DataFrame:
    return curves(evaluation["label"].to_numpy(), evaluation["score"].to_numpy())


def _online_metadata(
    config: ScoringConfig, newest: TrainingPlan, derived_from: str, update: OnlineUpdate
) -> dict:
    """What a version from an online update says of itself: the shape of a batch version's
    metadata (so scoring and the live path read it alike) and where it comes from."""
    target, learnt = newest.target, update.out_of_fold.set_index("customer_id")
    return {
        "target_kind": target.kind,
        "horizon_days": target.horizon_days,
        "training_cutoff_at": newest.cutoff,
        "label_window": [newest.cutoff, newest.cutoff + pd.Timedelta(days=target.horizon_days)],
        "schema_prefix": newest.schema_prefix,
        "model_family": ONLINE_FAMILY,
        "params": update.candidate.params,
        "calibration": config.training.calibration,
        "threshold": update.candidate.threshold,
        "features": update.candidate.features.to_dict(),
        "metrics": update.metrics,
        "derived_from": derived_from,
        # The batch version whose held-out customers every update of the line is judged on.
        "lineage": update.online.lineage,
        "online_update": update.figures,
        "gate_failures": update.failures,
        "training_rows": len(learnt),
        "positive_labels": int(learnt["label"].sum()),
        "training_data_fingerprint": update.fingerprint,
        "code_version": code_version(),
    }
