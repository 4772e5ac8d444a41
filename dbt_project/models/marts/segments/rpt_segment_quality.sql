{#
    Quality of every segmentation run, published or not: the internal indices, the bootstrap
    and temporal stability, the sizes, the gate floors and which gates passed.
#}

with

segment_runs as (

    select * from {{ ref('dim_segment_runs') }}

),

segment_quality as (

    select * from {{ ref('stg_segmentation__segment_quality') }}

),

final as (

    select
        segment_runs.run_id,
        segment_runs.run_number,
        segment_runs.started_at,
        segment_runs.as_of_at,
        segment_runs.algorithm,
        segment_runs.is_refit,
        segment_runs.model_version,
        segment_runs.is_published,
        segment_runs.is_current,
        segment_runs.failed_gates,
        segment_runs.customers,
        segment_runs.clustered_customers,
        segment_quality.segments,
        segment_quality.smallest_segment_customers,
        segment_quality.largest_segment_customers,
        segment_quality.min_segment_size,
        segment_quality.noise_share,
        segment_quality.silhouette,
        segment_quality.silhouette_sample_size,
        segment_quality.davies_bouldin,
        segment_quality.calinski_harabasz,
        segment_quality.bootstrap_ari_mean,
        segment_quality.bootstrap_ari_min,
        segment_quality.bootstrap_resamples,
        segment_quality.temporal_ari,
        segment_quality.temporal_keep_share,
        segment_quality.temporal_keep_share_all,
        segment_quality.shared_customers,
        segment_quality.silhouette_floor,
        segment_quality.bootstrap_ari_floor,
        segment_quality.temporal_keep_share_floor,
        segment_quality.passed_silhouette_gate,
        segment_quality.passed_size_gate,
        segment_quality.passed_stability_gate

    from segment_runs
    inner join segment_quality
        on segment_runs.run_id = segment_quality.run_id

)

select * from final
