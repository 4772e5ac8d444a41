with

source as (

    select * from {{ source('privacy', 'consents') }}

),

renamed as (

    select
        ---------- ids
        {{ cible.clean_text('consent_event_id') }} as consent_event_id,
        {{ cible.clean_text('customer_number') }} as customer_number,

        ---------- properties
        lower({{ cible.clean_text('purpose') }}) as purpose,
        lower({{ cible.clean_text('status') }}) as consent_status,
        {{ cible.clean_text('proof') }} as proof,

        ---------- timestamps
        {{ cible.parse_timestamp('occurred_at') }} as occurred_at,

        ---------- what the source said
        {{ cible.text_to_parse('occurred_at') }} as source_occurred_at,
        {{ cible.raw_payload('privacy', 'consents') }} as raw_payload,

        ---------- load metadata
        {{ cible.load_metadata() }}

    from source

),

validated as (

    select
        *,
        case
            when consent_event_id is null or customer_number is null
                or purpose is null or consent_status is null then 'missing_required_value'
            when {{ cible.failed_to_parse('source_occurred_at', 'occurred_at') }} then 'unparseable_timestamp'
            when occurred_at is null then 'missing_required_value'
            when {{ cible.is_in_future('occurred_at') }} then 'future_timestamp'
            when {{ cible.is_before_earliest_date('occurred_at', 'consents.occurred_at') }} then 'before_earliest_date'
            when purpose not in ('{{ cible.consent_purposes() | join("', '") }}') then 'unknown_value'
            {#- An objection (GDPR art. 21) withdraws the purpose it names, whatever came before. #}
            when consent_status not in ('granted', 'withdrawn', 'objected') then 'unknown_value'
        end as invalid_reason

    from renamed

),

final as (

    select
        consent_event_id,
        customer_number,
        purpose,
        consent_status,
        consent_status = 'granted' as is_granted,
        occurred_at,
        proof,
        invalid_reason is null as is_valid,
        invalid_reason,
        raw_payload,
        source_file,
        source_line,
        loaded_at,
        load_id

    from validated

)

select * from final
