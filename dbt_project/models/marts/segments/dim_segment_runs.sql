{#
    One row per segmentation run. Runs that failed a quality gate are kept (is_published =
    false) so the history shows them, but only published runs count as "current" or
    "previous": the segment marts never show a rejected run.
#}

with

segment_runs as (

    select * from {{ ref('stg_segmentation__segment_runs') }}

),

published_sequence as (

    select
        run_id,
        row_number() over (order by started_at asc, run_id asc) as run_number,
        lag(run_id) over (order by started_at asc, run_id asc) as previous_published_run_id,
        lead(run_id) over (order by started_at asc, run_id asc) as next_published_run_id

    from segment_runs
    where is_published

),

final as (

    select
        segment_runs.run_id,
        cast(published_sequence.run_number as {{ dbt.type_int() }}) as run_number,
        segment_runs.started_at,
        segment_runs.finished_at,
        segment_runs.as_of_at,
        segment_runs.is_refit,
        segment_runs.algorithm,
        segment_runs.n_clusters,
        segment_runs.model_version,
        segment_runs.config_fingerprint,
        segment_runs.customers,
        segment_runs.clustered_customers,
        segment_runs.excluded_customers,
        segment_runs.noise_customers,
        segment_runs.fit_sample_size,
        nullif(segment_runs.retired_segment_ids, '') as retired_segment_ids,
        segment_runs.is_published,
        nullif(segment_runs.failed_gates, '') as failed_gates,
        published_sequence.previous_published_run_id,
        coalesce(
            published_sequence.run_id is not null
            and published_sequence.next_published_run_id is null,
            false
        ) as is_current

    from segment_runs
    left join published_sequence
        on segment_runs.run_id = published_sequence.run_id

)

select * from final
