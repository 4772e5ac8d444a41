{#
    What sets each segment of the current run apart: every profile feature's mean in the
    segment against its base, the lift and the standardized difference, ranked.
#}

with

segments as (

    select * from {{ ref('dim_segments') }}
    where is_active

),

current_run as (

    select * from {{ ref('dim_segment_runs') }}
    where is_current

),

profile_features as (

    select * from {{ ref('stg_segmentation__segment_profile_features') }}

),

final as (

    select
        {{ cible.surrogate_key(['profile_features.segment_id', 'profile_features.feature']) }}
            as segment_feature_id,
        profile_features.run_id,
        profile_features.segment_id,
        segments.segment_kind,
        segments.name_en,
        segments.name_fr,
        profile_features.feature,
        profile_features.base,
        profile_features.segment_mean,
        profile_features.base_mean,
        profile_features.base_std,
        profile_features.lift,
        profile_features.standardized_difference,
        profile_features.importance_rank

    from profile_features
    inner join current_run
        on profile_features.run_id = current_run.run_id
    inner join segments
        on profile_features.segment_id = segments.segment_id

)

select * from final
