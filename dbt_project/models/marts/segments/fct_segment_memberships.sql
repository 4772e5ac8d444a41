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

all_memberships as (

    select * from exclusive_memberships
    union all
    select * from overlapping_memberships

),

{#-
    Consent is read again for the current run: a run that failed its gates leaves the previous
    run current, and a customer who withdrew since must leave its segments now, as the next
    run would place them: in the built-in `not_profiled` segment, in no rule segment.
#}
profiling_allowed as (

    select customer_id
    from {{ ref('fct_customer_consents') }}
    where purpose = 'profiling' and is_allowed

),

flagged as (

    select
        all_memberships.*,
        published_runs.is_current and profiling_allowed.customer_id is null as is_withdrawn_now

    from all_memberships
    inner join published_runs
        on all_memberships.run_id = published_runs.run_id
    left join profiling_allowed
        on all_memberships.customer_id = profiling_allowed.customer_id

),

memberships as (

    select
        run_id,
        customer_id,
        case when is_withdrawn_now then 'not_profiled' else segment_id end as segment_id,
        case when is_withdrawn_now then 'excluded' else segment_kind end as segment_kind,
        rule_group,
        is_exclusive,
        case when is_withdrawn_now then null else distance_to_centroid end as distance_to_centroid

    from flagged
    where is_exclusive or not is_withdrawn_now

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
