"""Benchmark of the segmentation at scale (a script that prints figures, not a test).

Building the warehouse at a million customers takes many minutes, so the features are
synthesised (`ml.segmentation.synthetic`: frames shaped like `fct_customer_features`, six
planted groups, 10 % prospects, 30 % without profiling consent). For each population size and
each algorithm, one child process loads the frame, fits on a sample as configured
(`config/segmentation.yml`; Ward builds its tree on 5,000 of the fit rows, DBSCAN and HDBSCAN
cluster 20,000), assigns every customer, and computes the quality indices; the parent prints
the wall time of each step (fit = preprocessing + clusterer, with the k scan) and the child's
peak resident memory (the process holds the whole features frame).

KMeans and MiniBatchKMeans are also compared on the whole clustered population with k fixed
(the case MiniBatchKMeans exists for): time ratio and adjusted Rand index between their labels.

    python benchmarks/segmentation.py --sizes 100000 1000000 --workdir /tmp/cible-segmentation
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

# (label, algorithm, how it is fitted)
SCENARIOS = (
    ("kmeans", "kmeans", "sample"),
    ("agglomerative", "agglomerative", "sample"),
    ("dbscan", "dbscan", "sample"),
    ("hdbscan", "hdbscan", "sample"),
    ("kmeans, everyone", "kmeans", "full"),
    ("minibatch_kmeans, everyone", "minibatch_kmeans", "full"),
)
FULL_K = 6
FULL_N_INIT = 3


def child(features_path: Path, algorithm: str, mode: str, labels_path: Path) -> None:
    """One measured run: fit, assign everyone, quality indices; prints a JSON line."""
    import pandas as pd
    from cible.ml.segmentation import rules
    from cible.ml.segmentation.clustering import cluster_indices, sample_rows
    from cible.ml.segmentation.config import load_segmentation_config
    from cible.ml.segmentation.model import NOISE_SEGMENT_ID, SegmentationModel, build_pipeline
    from threadpoolctl import threadpool_limits

    timings: dict[str, float] = {}
    started = time.perf_counter()
    frame = pd.read_parquet(features_path)
    config = load_segmentation_config(columns=list(frame.columns))
    name = "kmeans" if algorithm == "minibatch_kmeans" else algorithm
    settings = {"name": name}
    sampling = config.sampling
    if mode == "full":
        # k fixed, every clustered customer in the fit: KMeans against MiniBatchKMeans.
        kmeans = {
            "n_init": FULL_N_INIT,
            "minibatch_above": 0 if algorithm == "minibatch_kmeans" else 10**12,
        }
        settings.update(
            k_min=FULL_K, k_max=FULL_K, kmeans=config.algorithm.kmeans.model_copy(update=kmeans)
        )
        sampling = sampling.model_copy(update={"fit_sample_size": len(frame)})
    algorithm_settings = config.algorithm.model_copy(update=settings)
    config = config.model_copy(update={"algorithm": algorithm_settings, "sampling": sampling})
    timings["load"] = time.perf_counter() - started

    with threadpool_limits(limits=config.algorithm.threads):
        started = time.perf_counter()
        routed = rules.first_match(frame, config.excluded_segments)
        clustered = frame.loc[routed.isna().to_numpy()]
        rows = sample_rows(len(clustered), config.sampling.fit_sample_size, 0)
        minimum = config.quality.minimum_size(len(clustered)) * len(rows) / len(clustered)
        pipeline = build_pipeline(config, min_cluster_size=max(1, minimum))
        sample = pipeline[:-1].fit_transform(clustered.iloc[rows][config.features.input_columns()])
        timings["fit preprocessing"] = time.perf_counter() - started
        started = time.perf_counter()
        pipeline[-1].fit(sample)
        timings["fit clusterer"] = time.perf_counter() - started

        model = SegmentationModel(
            pipeline=pipeline,
            input_columns=config.features.input_columns(),
            excluded_segments=config.excluded_segments,
            segment_ids={
                label: f"cluster_{label + 1:02d}" for label in range(pipeline[-1].n_clusters_)
            },
            version="benchmark",
        )
        started = time.perf_counter()
        X = model.embed(clustered)
        labels = pipeline[-1].predict(X)
        assignments = model.assignments(frame, routed, X, labels)
        timings["assign everyone"] = time.perf_counter() - started

        started = time.perf_counter()
        indices = cluster_indices(X, labels, config.sampling.silhouette_sample_size, 0)
        timings["quality indices"] = time.perf_counter() - started

    np.save(labels_path, labels)
    segments = assignments.loc[assignments["segment_kind"] != "excluded", "segment_id"]
    print(
        json.dumps(
            {
                "timings": timings,
                "customers": len(frame),
                "clustered": len(clustered),
                "fit_rows": len(rows),
                "k": int(pipeline[-1].n_clusters_),
                "algorithm": getattr(pipeline[-1], "algorithm_", algorithm),
                "noise_share": float((segments == NOISE_SEGMENT_ID).mean()),
                "silhouette": indices["silhouette"],
            }
        ),
        flush=True,
    )


def measured(command: list[str]) -> tuple[dict, float, float]:
    """Run a child; its JSON report, wall time and peak resident memory (MB)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} failed")
    report = json.loads(output.strip().splitlines()[-1])
    return report, elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/cible-segmentation"))
    parser.add_argument("--only", nargs="*", help="scenario labels to run (default: all)")
    parser.add_argument("--child", nargs=4, metavar=("FEATURES", "ALGORITHM", "MODE", "LABELS"))
    args = parser.parse_args()
    if args.child:
        features, algorithm, mode, labels = args.child
        child(Path(features), algorithm, mode, Path(labels))
        return

    from cible.ml.segmentation.synthetic import synthetic_features
    from sklearn.metrics import adjusted_rand_score

    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"Segmentation benchmark, synthetic features, {os.cpu_count()} cores", flush=True)
    for size in args.sizes:
        features_path = args.workdir / f"features_{size}.parquet"
        if not features_path.exists():
            started = time.perf_counter()
            frame, _ = synthetic_features(size, seed=1)
            frame.to_parquet(features_path)
            print(f"\n{size:,} customers synthesised in {time.perf_counter() - started:.1f} s")
        print(f"\n{size:,} customers")
        print(
            f"  {'algorithm':<28}{'k':>3}{'fit rows':>10}{'fit':>8}{'assign':>8}"
            f"{'quality':>9}{'total':>8}{'peak RSS':>10}{'silh.':>7}{'noise':>7}"
        )
        fits = {}
        for label, algorithm, mode in SCENARIOS:
            if args.only and label not in args.only:
                continue
            labels_path = args.workdir / f"labels_{size}_{algorithm}_{mode}.npy"
            command = [
                sys.executable,
                __file__,
                "--child",
                str(features_path),
                algorithm,
                mode,
                str(labels_path),
            ]
            report, elapsed, peak = measured(command)
            timing = report["timings"]
            fits[label] = (timing["fit clusterer"], labels_path)
            fit = timing["fit preprocessing"] + timing["fit clusterer"]
            print(
                f"  {label:<28}{report['k']:>3}{report['fit_rows']:>10,}{fit:>7.1f}s"
                f"{timing['assign everyone']:>7.1f}s{timing['quality indices']:>8.1f}s"
                f"{elapsed:>7.1f}s{peak:>8,.0f} MB{report['silhouette']:>7.3f}"
                f"{report['noise_share']:>7.1%}",
                flush=True,
            )
        full, mini = "kmeans, everyone", "minibatch_kmeans, everyone"
        if full in fits and mini in fits:
            ratio = fits[full][0] / fits[mini][0]
            ari = adjusted_rand_score(np.load(fits[full][1]), np.load(fits[mini][1]))
            print(
                f"  KMeans / MiniBatchKMeans clusterer fit time on everyone (k = {FULL_K}, "
                f"n_init = {FULL_N_INIT}): {fits[full][0]:.1f} s / {fits[mini][0]:.1f} s = "
                f"{ratio:.1f}x; ARI between their labels: {ari:.3f}"
            )


if __name__ == "__main__":
    main()
