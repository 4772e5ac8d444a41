with

source as (

    select * from {{ source('privacy', 'erasure_requests') }}

),

renamed as (

    select
        ---------- ids
        {{ cible.clean_text('request_id') }} as request_id,
        {{ cible.clean_text('customer_number') }} as customer_number,
        lower({{ cible.clean_text('email_sha256') }}) as email_sha256,

        ---------- timestamps
        {{ cible.parse_timestamp('requested_at') }} as requested_at,

        ---------- what the source said
        {{ cible.text_to_parse('requested_at') }} as source_requested_at,
        {{ cible.raw_payload('privacy', 'erasure_requests') }} as raw_payload,

        ---------- load metadata
        {{ cible.load_metadata() }}

    from source

),

validated as (

    select
        *,
        case
            when request_id is null then 'missing_required_value'
            when customer_number is null and email_sha256 is null then 'missing_required_value'
            when {{ cible.failed_to_parse('source_requested_at', 'requested_at') }} then 'unparseable_timestamp'
            when requested_at is null then 'missing_required_value'
            when {{ cible.is_in_future('requested_at') }} then 'future_timestamp'
            when {{ cible.is_before_earliest_date('requested_at', 'erasure_requests.requested_at') }} then 'before_earliest_date'
            when email_sha256 is not null
                and not {{ cible.regexp_matches('email_sha256', '[0-9a-f]{64}') }} then 'out_of_range'
        end as invalid_reason

    from renamed

),

final as (

    select
        request_id,
        customer_number,
        email_sha256,
        requested_at,
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
