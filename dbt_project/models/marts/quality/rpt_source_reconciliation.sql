{#
    Row accounting per source, from the files to the clean tables:
    rows in files = clean + rejected at load + suppressed at load (erased persons, kept out
    by the suppression list) + quarantined + duplicates removed + not processed yet (web
    events of days no run has processed since they arrived, `int_events_unprocessed`; campaign
    events loaded since the last run, `int_campaign_events_unprocessed`).
    Every category is counted from its own table, and `rows_in_files` from the loader's byte
    scan of the files' physical lines, never as a remainder: a row lost anywhere (a parse, a
    join, a filter) shows in `unaccounted_rows`, which must be 0 (a test checks it). A new
    category is one more counted column in `counts` and one more term in `categories`.
    The loader's own count of the rows it wrote must match the raw table.
#}

{%- set registry = cible.quality_registry() %}
{%- set bigint = dbt.type_bigint() %}

with

load_rejects as (

    select source_name, count(*) as rows_rejected_at_load
    from {{ ref('stg_loader__load_rejects') }}
    group by source_name

),

load_files as (

    select * from {{ ref('stg_loader__load_files') }}

),

{#- The loader reloads a source whole: its latest load is what the raw table holds. #}
latest_loads as (

    select source_name, max(loaded_at) as loaded_at
    from load_files
    group by source_name

),

reported as (

    select
        load_files.source_name,
        sum(load_files.rows_loaded) as rows_loaded_reported,
        sum(load_files.rows_suppressed) as rows_suppressed_at_load,
        {#- Files logged before the loader counted physical lines (#16) fall back on its
            rows loaded + rejected. #}
        sum(coalesce(
            load_files.rows_in_file,
            load_files.rows_loaded + load_files.rows_rejected + load_files.rows_suppressed
        )) as rows_in_files

    from load_files
    inner join latest_loads
        on load_files.source_name = latest_loads.source_name
        and load_files.loaded_at = latest_loads.loaded_at
    group by load_files.source_name

),

{% for entry in registry %}
{#- One scan per relation: staging, deduplicated, clean. #}
{{ entry.source }}_staged as (

    select
        count(*) as rows_in_raw,
        coalesce(sum(case when is_valid then 0 else 1 end), 0) as rows_invalid

    from {{ ref(entry.staging) }}

),

{#- Copies beyond the first of each key among valid rows, counted in staging itself: the
    same as the kept receipt (a duplicate) or not (a conflicting duplicate). #}
{{ entry.source }}_duplicates as (

    {%- if entry.keep %}
    select
        coalesce(sum(case when is_same_as_kept then 1 else 0 end), 0) as duplicates_removed,
        coalesce(sum(case when is_same_as_kept then 0 else 1 end), 0) as rows_conflicting
    from ({{ cible.ranked_receipts(entry) }}) as receipts
    where receipt_rank > 1
    {%- elif entry.deduplicated %}
    select coalesce(sum(copies - 1), 0) as duplicates_removed, 0 as rows_conflicting
    from (
        select count(*) as copies
        from {{ ref(entry.staging) }}
        where is_valid
        group by {{ (entry.get('dedupe_key') or entry.key) | join(', ') }}
    ) as keys
    {%- else %}
    select 0 as duplicates_removed, 0 as rows_conflicting
    {%- endif %}

),

{{ entry.source }}_deduplicated as (

    {%- if entry.deduplicated %}
    select
        count(*) as rows_deduplicated,
        {%- if entry.flag %}
        coalesce(sum(case when {{ entry.flag }} then 1 else 0 end), 0) as rows_flagged
        {%- else %}
        0 as rows_flagged
        {%- endif %}

    from {{ ref(entry.deduplicated) }}
    {%- else %}
    select
        (select count(*) from {{ ref(entry.staging) }} where is_valid) as rows_deduplicated,
        0 as rows_flagged
    {%- endif %}

),

{{ entry.source }}_clean as (

    select coalesce({{ entry.get('clean_count') or 'count(*)' }}, 0) as rows_clean
    from {{ ref(entry.clean) }}
    {%- if entry.clean_filter %}
    where {{ entry.clean_filter }}
    {%- endif %}

),

{#- Valid rows of days no run has processed yet: waiting for the next run, or for a
    backfill when they arrived later than the lookback. #}
{{ entry.source }}_unprocessed as (

    {%- if entry.unprocessed %}
    select
        coalesce(sum(case when unprocessed_reason = 'awaiting_next_run' then 1 else 0 end), 0)
            as rows_awaiting_next_run,
        coalesce(sum(case when unprocessed_reason = 'later_than_lookback' then 1 else 0 end), 0)
            as rows_awaiting_backfill
    from {{ ref(entry.unprocessed) }}
    {%- else %}
    select 0 as rows_awaiting_next_run, 0 as rows_awaiting_backfill
    {%- endif %}

),

{{ entry.source }}_counts as (

    select
        '{{ entry.source }}' as source_name,
        staged.rows_in_raw,
        staged.rows_invalid,
        duplicates.duplicates_removed,
        duplicates.rows_conflicting,
        deduplicated.rows_flagged as rows_quarantined_after_identity,
        unprocessed.rows_awaiting_next_run,
        unprocessed.rows_awaiting_backfill,
        clean.rows_clean

    from {{ entry.source }}_staged as staged
    cross join {{ entry.source }}_duplicates as duplicates
    cross join {{ entry.source }}_deduplicated as deduplicated
    cross join {{ entry.source }}_unprocessed as unprocessed
    cross join {{ entry.source }}_clean as clean

),

{% endfor %}
counts as (

    {%- for entry in registry %}
    select * from {{ entry.source }}_counts
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

categories as (

    select
        counts.source_name,
        coalesce(reported.rows_in_files, 0) as rows_in_files,
        counts.rows_in_raw,
        coalesce(reported.rows_loaded_reported, 0) as rows_loaded_reported,
        {#- The categories: every row of the files is in exactly one. #}
        coalesce(load_rejects.rows_rejected_at_load, 0) as rows_rejected_at_load,
        coalesce(reported.rows_suppressed_at_load, 0) as rows_suppressed_at_load,
        counts.rows_invalid as rows_quarantined_at_staging,
        counts.rows_quarantined_after_identity,
        counts.duplicates_removed,
        counts.rows_conflicting as rows_quarantined_as_conflicting,
        counts.rows_awaiting_next_run,
        counts.rows_awaiting_backfill,
        counts.rows_clean

    from counts
    left join load_rejects
        on counts.source_name = load_rejects.source_name
    left join reported
        on counts.source_name = reported.source_name

),

final as (

    select
        source_name,
        cast(rows_in_files as {{ bigint }}) as rows_in_files,
        cast(rows_in_raw as {{ bigint }}) as rows_in_raw,
        cast(rows_loaded_reported as {{ bigint }}) as rows_loaded_reported,
        cast(rows_rejected_at_load as {{ bigint }}) as rows_rejected_at_load,
        cast(rows_suppressed_at_load as {{ bigint }}) as rows_suppressed_at_load,
        cast(rows_quarantined_at_staging as {{ bigint }}) as rows_quarantined_at_staging,
        cast(rows_quarantined_after_identity as {{ bigint }}) as rows_quarantined_after_identity,
        cast(duplicates_removed as {{ bigint }}) as duplicates_removed,
        cast(rows_quarantined_as_conflicting as {{ bigint }}) as rows_quarantined_as_conflicting,
        cast(rows_awaiting_next_run as {{ bigint }}) as rows_awaiting_next_run,
        cast(rows_awaiting_backfill as {{ bigint }}) as rows_awaiting_backfill,
        cast(rows_clean as {{ bigint }}) as rows_clean,
        cast(
            rows_in_files
            - rows_rejected_at_load
            - rows_suppressed_at_load
            - rows_quarantined_at_staging
            - rows_quarantined_after_identity
            - duplicates_removed
            - rows_quarantined_as_conflicting
            - rows_awaiting_next_run
            - rows_awaiting_backfill
            - rows_clean
            as {{ bigint }}
        ) as unaccounted_rows

    from categories

)

select * from final
