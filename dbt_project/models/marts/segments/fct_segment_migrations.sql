{#
    The transition matrix between consecutive published runs: how many customers went from
    each exclusive segment of the previous run to each of the next. A customer absent from the
    previous run has no `from_segment_id` (entered), one absent from the next no
    `to_segment_id` (left).
#}

with

published_runs as (

    select * from {{ ref('dim_segment_runs') }}
    where is_published
        and previous_published_run_id is not null

),

assignments as (

    select * from {{ ref('stg_segmentation__segment_assignments') }}

),

current_members as (

    select
        published_runs.run_id,
        assignments.customer_id,
        assignments.segment_id

    from published_runs
    inner join assignments
        on published_runs.run_id = assignments.run_id

),

previous_members as (

    select
        published_runs.run_id,
        assignments.customer_id,
        assignments.segment_id

    from published_runs
    inner join assignments
        on published_runs.previous_published_run_id = assignments.run_id

),

transitions as (

    select
        coalesce(current_members.run_id, previous_members.run_id) as run_id,
        previous_members.segment_id as from_segment_id,
        current_members.segment_id as to_segment_id

    from current_members
    full outer join previous_members
        on current_members.run_id = previous_members.run_id
        and current_members.customer_id = previous_members.customer_id

),

counted as (

    select
        run_id,
        from_segment_id,
        to_segment_id,
        count(*) as customers

    from transitions
    group by run_id, from_segment_id, to_segment_id

),

final as (

    select
        {{ cible.surrogate_key(['counted.run_id', 'counted.from_segment_id', 'counted.to_segment_id']) }}
            as migration_id,
        counted.run_id,
        published_runs.previous_published_run_id as previous_run_id,
        published_runs.run_number,
        published_runs.is_current as is_current_run,
        counted.from_segment_id,
        counted.to_segment_id,
        case
            when counted.from_segment_id is null then 'entered'
            when counted.to_segment_id is null then 'left'
            when counted.from_segment_id = counted.to_segment_id then 'stayed'
            else 'moved'
        end as movement,
        cast(counted.customers as {{ dbt.type_bigint() }}) as customers,
        {{ cible.safe_divide(
            'counted.customers',
            'sum(counted.customers) over (partition by counted.run_id, counted.from_segment_id)'
        ) }} as share_of_from_segment

    from counted
    inner join published_runs
        on counted.run_id = published_runs.run_id

)

select * from final
