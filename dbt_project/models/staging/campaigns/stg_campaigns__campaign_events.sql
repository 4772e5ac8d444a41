with

source as (

    select * from {{ source('campaigns', 'campaign_events') }}

),

renamed as (

    select
        ---------- ids
        {{ cible.clean_text('campaign_event_id') }} as campaign_event_id,
        {{ cible.clean_text('campaign_id') }} as campaign_id,
        {{ cible.clean_text('customer_number') }} as customer_number,

        ---------- properties
        lower({{ cible.clean_text('channel') }}) as channel,
        lower(coalesce({{ cible.clean_text('promo_type') }}, 'none')) as promo_type,
        lower({{ cible.clean_text('event_type') }}) as event_type,

        ---------- timestamps
        {{ cible.parse_timestamp('occurred_at') }} as occurred_at,

        ---------- what the source said
        {{ cible.text_to_parse('occurred_at') }} as source_occurred_at,
        {{ cible.raw_payload('campaigns', 'campaign_events') }} as raw_payload,

        ---------- load metadata
        {{ cible.load_metadata() }}

    from source

),

validated as (

    select
        *,
        case
            when campaign_event_id is null or customer_number is null or event_type is null
                then 'missing_required_value'
            when {{ cible.failed_to_parse('source_occurred_at', 'occurred_at') }} then 'unparseable_timestamp'
            when occurred_at is null then 'missing_required_value'
            when {{ cible.is_in_future('occurred_at') }} then 'future_timestamp'
            when {{ cible.is_before_earliest_date('occurred_at', 'campaign_events.occurred_at') }} then 'before_earliest_date'
            when event_type not in ('send', 'open', 'click', 'conversion') then 'unknown_event_type'
        end as invalid_reason,
        case
            when channel is not null and channel not in ('email', 'sms', 'push') then 'unknown_value'
        end as channel_issue,
        case
            when promo_type not in ('none', 'discount', 'exclusive', 'vip_event', 'new_collection')
                then 'unknown_value'
        end as promo_type_issue

    from renamed

),

final as (

    select
        campaign_event_id,
        campaign_id,
        customer_number,
        case when channel_issue is null then channel end as channel,
        case when promo_type_issue is null then promo_type end as promo_type,
        event_type,
        occurred_at,
        invalid_reason is null as is_valid,
        invalid_reason,
        channel_issue,
        promo_type_issue,
        raw_payload,
        source_file,
        source_line,
        loaded_at,
        load_id

    from validated

)

select * from final
