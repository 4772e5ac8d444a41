{#
    Valid events in raw that no run has processed yet, one row per event id, with why:
    - `awaiting_next_run`: it happened after the latest day `int_events_attributed` holds (a
      run for an earlier partition, or today's events before the schedule); the next daily
      run takes it;
    - `later_than_lookback`: its day was processed before it arrived, and it came later than
      the lookback the daily runs reprocess (`CIBLE_EVENT_LOOKBACK_DAYS`): only a backfill of
      its day (`cible backfill`) processes it.
    Counted by `rpt_source_reconciliation`; the `events_later_than_lookback` test (a warning)
    reports the second kind with its exact count. A view: nothing is stored at event grain.
#}

{{ config(materialized='view') }}

with

valid_events as (

    select
        event_id,
        min(occurred_at) as occurred_at,
        min(received_at) as received_at

    from {{ ref('stg_web__events') }}
    where is_valid
    group by event_id

),

processed as (

    select event_id from {{ ref('int_events_attributed') }}

),

processed_until as (

    select max(occurred_on) as occurred_on from {{ ref('int_events_attributed') }}

),

unprocessed as (

    select valid_events.*
    from valid_events
    left join processed
        on valid_events.event_id = processed.event_id
    where processed.event_id is null

),

final as (

    select
        unprocessed.event_id,
        unprocessed.occurred_at,
        cast(unprocessed.occurred_at as date) as occurred_on,
        unprocessed.received_at,
        case
            when processed_until.occurred_on is null
                or cast(unprocessed.occurred_at as date) > processed_until.occurred_on
                then 'awaiting_next_run'
            else 'later_than_lookback'
        end as unprocessed_reason

    from unprocessed
    cross join processed_until

)

select * from final
