"""Customer segmentation: clustering with quality gates, stable ids, rule segments, profiles.

- :mod:`~ml.segmentation.config`: the YAML configuration, validated;
- :mod:`~ml.segmentation.preprocessing`, :mod:`~ml.segmentation.clustering`: the Pipeline;
- :mod:`~ml.segmentation.runner`: one run in memory; :mod:`~ml.segmentation.store`: the same
  against the warehouse (read features, publish the `ml` tables);
- :mod:`~ml.segmentation.rules`, :mod:`~ml.segmentation.identity`,
  :mod:`~ml.segmentation.quality`, :mod:`~ml.segmentation.profiles`,
  :mod:`~ml.segmentation.naming`: the pieces. How it works: docs/segmentation.md.
"""
