{#
    Web events that arrived after their day was processed, later than the lookback the daily
    runs reprocess (CIBLE_EVENT_LOOKBACK_DAYS): one row each, so the warning's count is theirs.
    Nothing is lost (rpt_source_reconciliation counts them as `rows_awaiting_backfill`), but
    segments and scores miss them until `cible backfill` processes their days. A warning, not
    an error: the rest of the run is right and should still publish. Campaign events never
    come here: a window run takes every one its table does not hold, whatever its day.
#}

{{ config(severity='warn') }}

select event_id, occurred_on, received_at
from {{ ref('int_events_unprocessed') }}
where unprocessed_reason = 'later_than_lookback'
