{#
    Valid campaign events in raw that no run has processed yet, one row per campaign event id
    (macros/event_partitions.sql, `unprocessed_rows`): loaded since the last run. Each is
    `awaiting_next_run`, whatever its day: a window run takes every campaign event the table
    does not hold (int_campaign_events_attributed's anti-join), so none arrives later than the
    lookback and none waits for `cible backfill`. Counted by `rpt_source_reconciliation`. A
    view.
#}

{{ config(materialized='view') }}

{{ cible.unprocessed_rows(
    'stg_campaigns__campaign_events', 'campaign_event_id', 'int_campaign_events_attributed',
    takes_missing_rows=true
) }}
