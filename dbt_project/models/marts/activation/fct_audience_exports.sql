{#
    One row per audience per export run: what was sent, held out and excluded (by reason),
    under which consent, where to, and whether it arrived. `is_latest` marks each audience's
    last export. Written by the export step (cible/activation), read by the dashboard.
#}

with

audience_exports as (

    select * from {{ ref('stg_activation__audience_exports') }}

),

ranked as (

    select
        audience_exports.*,
        row_number() over (
            partition by audience
            order by exported_at desc, export_id desc
        ) as recency_rank

    from audience_exports

)

select
    audience,
    export_id,
    exported_at,
    as_of_at,
    segment_run_id,
    scoring_run_id,
    definition_fingerprint,
    segment_id,
    destination,
    destination_type,
    identifier_type,
    mode,
    purpose,
    consent_basis,
    eligible_count,
    sent_count,
    held_out_count,
    excluded_no_consent,
    excluded_suppressed,
    excluded_no_identifier,
    excluded_no_consent + excluded_suppressed + excluded_no_identifier as excluded_count,
    entered_count,
    left_count,
    rows_written,
    location,
    status,
    status_detail,
    uplift_window_days,
    recency_rank = 1 as is_latest

from ranked
