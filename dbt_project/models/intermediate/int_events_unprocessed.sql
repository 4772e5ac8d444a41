{#
    Valid events in raw that no run has processed yet, one row per event id, with why
    (`awaiting_next_run` or `later_than_lookback`: macros/event_partitions.sql,
    `unprocessed_rows`). Counted by `rpt_source_reconciliation`; the singular test
    `assert_no_events_later_than_lookback` (a warning) reports the second kind with its exact
    count. A view: nothing is stored at event grain.
#}

{{ config(materialized='view') }}

{{ cible.unprocessed_rows(
    'stg_web__events', 'event_id', 'int_events_attributed', earliest=['received_at']
) }}
