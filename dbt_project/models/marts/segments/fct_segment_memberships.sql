{#
    Who is in which segment, for the current run and every past published run: the exclusive
    segment of each customer (cluster, noise or excluded) and every rule segment they match.
#}

with

published_runs as (

    select * from {{ ref('dim_segment_runs') }}
    where is_published

),

assignments as (

    select * from {{ ref('stg_segmentation__segment_assignments') }}

),

rule_memberships as (

    select * from {{ ref('stg_segmentation__rule_segment_memberships') }}

),

exclusive_memberships as (

    select
        assignments.run_id,
        assignments.customer_id,
        assignments.segment_id,
        assignments.segment_kind,
        cast(null as {{ dbt.type_string() }}) as rule_group,
        true as is_exclusive,
        assignments.distance_to_centroid

    from assignments

),

overlapping_memberships as (

    select
        rule_memberships.run_id,
        rule_memberships.customer_id,
        rule_memberships.segment_id,
        'rule' as segment_kind,
        rule_memberships.rule_group,
        false as is_exclusive,
        cast(null as {{ cible.type_double() }}) as distance_to_centroid

    from rule_memberships

),

memberships as (

    select * from exclusive_memberships
    union all
    select * from overlapping_memberships

),

final as (

    select
        {{ cible.surrogate_key(['memberships.run_id', 'memberships.customer_id', 'memberships.segment_id']) }}
            as membership_id,
        memberships.run_id,
        published_runs.run_number,
        published_runs.as_of_at,
        memberships.customer_id,
        memberships.segment_id,
        memberships.segment_kind,
        memberships.rule_group,
        memberships.is_exclusive,
        memberships.distance_to_centroid,
        published_runs.is_current as is_current_run

    from memberships
    inner join published_runs
        on memberships.run_id = published_runs.run_id

)

select * from final
