"""An online update on small frames: the held-out customers stay those of the lineage, the
updated model is calibrated like a batch version, and it is judged against the published one
on the same customers."""

import joblib
import numpy as np
import pandas as pd
import pytest
from cible.ml.scoring.config import parse_scoring_config
from cible.ml.scoring.features import select_features
from cible.ml.scoring.labels import TrainingDataError
from cible.ml.scoring.models import OnlineModel, train_classifier
from cible.ml.scoring.online import ONLINE_FAMILY, update_candidate
from cible.ml.scoring.training import TrainingPlan, TrainingSet
from scoring_data import LIGHT_CONFIG, make_features

FIRST, LATER = pd.Timestamp("2026-09-01"), pd.Timestamp("2026-09-08")


def test_an_update_is_calibrated_and_judged_on_the_lineage_held_out_customers(tmp_path):
    config = parse_scoring_config(
        {
            **LIGHT_CONFIG,
            "training": {
                **LIGHT_CONFIG["training"],
                "calibration": "sigmoid",
                "models": {"logistic_regression": {"C": [1.0]}},
            },
            "incremental": {"targets": ["purchase_30d"], "epochs": 3, "min_auc_gain": 0.0},
        }
    )
    frame, labels = make_features(n=1500, seed=3)
    spec = select_features(frame.reset_index(), None, [])
    known = frame.index[:1000]
    batch = train_classifier(frame.loc[known], labels.loc[known], spec, config)
    held_out = pd.Index(batch.test_predictions["customer_id"])
    trained_on = pd.Index(batch.out_of_fold_predictions["customer_id"])
    online = OnlineModel.fit(
        spec, frame.loc[trained_on], labels.loc[trained_on], FIRST, 0.01, 1e-4, 3
    )
    sides = (held_out, trained_on)
    # A later window: the first 1000 customers again and 500 the batch never saw.
    plan = TrainingPlan(config.targets["purchase_30d"], LATER, "training_30d_")
    data = TrainingSet(frame, labels, spec, frame)
    update = update_candidate(online, data, plan, batch.model, "purchase_30d-v0001", config, sides)

    compared = pd.Index(update.evaluation["customer_id"])
    learnt = pd.Index(update.out_of_fold["customer_id"])
    assert compared.intersection(learnt).empty and len(compared) + len(learnt) == 1500
    # The batch's held-out customers are the ones compared on; of the new customers about
    # `training.test_size` join them, the same ones at every later update.
    assert held_out.isin(compared).all()
    new_compared = compared.difference(held_out)
    assert 0.1 < len(new_compared) / 500 < 0.3
    assert trained_on.isin(learnt).all()
    assert online.cutoff == LATER and online.updates[-1]["cutoff"] == LATER.isoformat()

    figures = update.figures
    assert figures["eval_rows"] == len(compared) and figures["rows"] == len(learnt)
    assert figures["online_auc_after"] == update.metrics["auc_roc"]
    assert update.beats == (figures["online_auc_after"] >= figures["published_auc"])
    assert update.candidate.family == ONLINE_FAMILY
    # A probability as calibrated as a batch version's: the held-out mean near the rate.
    assert abs(update.metrics["mean_score"] - update.metrics["positive_rate"]) < 0.05
    assert update.metrics["calibration_error"] < 0.1
    # Persisted whole, it scores raw frames as before, and it is not the online model itself
    # (which keeps learning after it is published).
    joblib.dump(update.candidate, tmp_path / "model.joblib")
    reloaded = joblib.load(tmp_path / "model.joblib")
    np.testing.assert_allclose(reloaded.score(frame), update.candidate.score(frame))
    assert reloaded.estimator.pipeline is not online.pipeline

    # A second window keeps the same sides: nobody compared on is ever learnt from.
    again = update_candidate(
        online,
        data,
        TrainingPlan(plan.target, LATER + pd.Timedelta(days=7), plan.schema_prefix),
        batch.model,
        "purchase_30d-v0001",
        config,
        sides,
    )
    assert set(again.evaluation["customer_id"]) == set(compared)

    # A feature the window lacks stops the update with its name, before anything is learnt.
    cutoff = online.cutoff
    narrower = TrainingSet(frame.drop(columns="age"), labels, spec, frame)
    missing = r"the online model of purchase_30d-v0001: .*feature\(s\) age"
    with pytest.raises(TrainingDataError, match=missing):
        update_candidate(online, narrower, plan, batch.model, "purchase_30d-v0001", config, sides)
    assert online.cutoff == cutoff
