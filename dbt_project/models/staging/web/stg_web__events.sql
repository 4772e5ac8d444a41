{#
    One row per raw event row, re-sent copies included (intermediate keeps the first one
    received). Event types are checked against the `tracking_plan` seed, read as a lookup list.
#}

with

source as (

    select * from {{ source('web', 'events') }}

),

tracking_plan as (

    select event_type from {{ ref('tracking_plan') }}

),

renamed as (

    select
        ---------- ids
        {{ cible.clean_text('event_id') }} as event_id,
        {{ cible.clean_text('anonymous_id') }} as anonymous_id,
        {{ cible.clean_text('customer_number') }} as customer_number,
        {{ cible.clean_text('session_id') }} as tracker_session_id,
        {{ cible.clean_text('product_sku') }} as product_sku,

        ---------- properties
        lower({{ cible.clean_text('event_type') }}) as event_type,
        lower({{ cible.clean_text('page_category') }}) as page_category,
        lower({{ cible.clean_text('device_type') }}) as device_type,
        lower({{ cible.clean_text('traffic_source') }}) as traffic_source,

        ---------- numerics
        {{ cible.parse_integer('duration_ms') }} as duration_ms,
        {{ cible.parse_integer('scroll_depth_pct') }} as scroll_depth_pct,

        ---------- timestamps
        {{ cible.parse_timestamp('occurred_at') }} as occurred_at,
        {{ cible.parse_timestamp('received_at') }} as received_at,

        ---------- what the source said
        {{ cible.text_to_parse('occurred_at') }} as source_occurred_at,
        {{ cible.text_to_parse('received_at') }} as source_received_at,
        {{ cible.text_to_parse('duration_ms') }} as source_duration_ms,
        {{ cible.text_to_parse('scroll_depth_pct') }} as source_scroll_depth_pct,
        {{ cible.raw_payload('web', 'events') }} as raw_payload,

        ---------- load metadata
        {{ cible.load_metadata() }}

    from source

),

validated as (

    select
        *,
        case
            when event_id is null or event_type is null then 'missing_required_value'
            when {{ cible.failed_to_parse('source_occurred_at', 'occurred_at') }} then 'unparseable_timestamp'
            when occurred_at is null then 'missing_required_value'
            when {{ cible.is_in_future('occurred_at') }} then 'future_timestamp'
            when {{ cible.is_before_earliest_date('occurred_at', 'events.occurred_at') }} then 'before_earliest_date'
            when event_type not in (select event_type from tracking_plan) then 'unknown_event_type'
        end as invalid_reason,
        case
            when {{ cible.failed_to_parse('source_received_at', 'received_at') }} then 'unparseable_timestamp'
            when received_at < occurred_at then 'out_of_range'
        end as received_at_issue,
        case
            when {{ cible.failed_to_parse('source_duration_ms', 'duration_ms') }} then 'unparseable_number'
            when duration_ms < 0 then 'out_of_range'
        end as duration_issue,
        case
            when {{ cible.failed_to_parse('source_scroll_depth_pct', 'scroll_depth_pct') }} then 'unparseable_number'
            when scroll_depth_pct < 0 or scroll_depth_pct > 100 then 'out_of_range'
        end as scroll_depth_issue

    from renamed

),

final as (

    select
        event_id,
        anonymous_id,
        customer_number,
        tracker_session_id,
        event_type,
        occurred_at,
        case when received_at_issue is null then received_at end as received_at,
        coalesce(
            received_at_issue is null
            and received_at > {{ dbt.dateadd('hour', var('late_event_hours'), 'occurred_at') }},
            false
        ) as is_late_arrival,
        page_category,
        product_sku,
        case when duration_issue is null then duration_ms end as duration_ms,
        case when scroll_depth_issue is null then scroll_depth_pct end as scroll_depth_pct,
        device_type,
        traffic_source,
        invalid_reason is null as is_valid,
        invalid_reason,
        received_at_issue,
        duration_issue,
        scroll_depth_issue,
        raw_payload,
        source_file,
        source_line,
        loaded_at,
        load_id

    from validated

)

select * from final
