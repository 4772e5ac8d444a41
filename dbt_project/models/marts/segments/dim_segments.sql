{#
    Every segment ever published, described by its latest published profile: name and
    description in English and French, size, key figures and distinguishing features.
    Segments of the current run are active; clustering segments that vanished are retired
    (their ids are never reused).
#}

with

published_runs as (

    select * from {{ ref('dim_segment_runs') }}
    where is_published

),

profiles as (

    select * from {{ ref('stg_segmentation__segment_profiles') }}

),

quality as (

    select * from {{ ref('stg_segmentation__segment_quality') }}

),

published_profiles as (

    select
        profiles.*,
        published_runs.run_number,
        published_runs.is_current,
        quality.min_segment_size,
        row_number() over (
            partition by profiles.segment_id
            order by published_runs.run_number desc
        ) as recency_rank,
        min(published_runs.run_number) over (partition by profiles.segment_id) as first_run_number,
        count(*) over (partition by profiles.segment_id) as published_runs_count

    from profiles
    inner join published_runs
        on profiles.run_id = published_runs.run_id
    left join quality
        on profiles.run_id = quality.run_id

),

first_runs as (

    select
        run_number,
        run_id as first_run_id

    from published_runs

),

final as (

    select
        published_profiles.segment_id,
        published_profiles.segment_kind,
        published_profiles.rule_group,
        published_profiles.segment_number,
        published_profiles.name_en,
        published_profiles.name_fr,
        published_profiles.description_en,
        published_profiles.description_fr,
        published_profiles.top_features,
        published_profiles.strategic_fit,
        published_profiles.customers,
        published_profiles.customer_share,
        published_profiles.orders_per_customer,
        published_profiles.revenue_per_customer_eur,
        published_profiles.average_order_value_eur,
        published_profiles.campaign_open_rate,
        published_profiles.campaign_click_rate,
        published_profiles.campaign_conversion_rate,
        published_profiles.profile_completeness,
        published_profiles.profiling_consent_rate,
        published_profiles.marketing_consent_rate,
        published_profiles.min_segment_size,
        coalesce(published_profiles.customers < published_profiles.min_segment_size, false)
            as is_below_minimum_size,
        published_profiles.is_current as is_active,
        published_profiles.segment_kind = 'cluster' and not published_profiles.is_current
            as is_retired,
        published_profiles.is_new_segment,
        first_runs.first_run_id,
        published_profiles.run_id as last_run_id,
        cast(published_profiles.published_runs_count as {{ dbt.type_int() }}) as published_runs_count

    from published_profiles
    inner join first_runs
        on published_profiles.first_run_number = first_runs.run_number
    where published_profiles.recency_rank = 1

)

select * from final
