{#
    Valid campaign events in raw that no run has processed yet, one row per campaign event id,
    with why (`awaiting_next_run` or `later_than_lookback`: macros/event_partitions.sql,
    `unprocessed_rows`). Counted by `rpt_source_reconciliation`; reported by the singular test
    `assert_no_events_later_than_lookback` (a warning). A view.
#}

{{ config(materialized='view') }}

{{ cible.unprocessed_rows(
    'stg_campaigns__campaign_events', 'campaign_event_id', 'int_campaign_events_attributed'
) }}
