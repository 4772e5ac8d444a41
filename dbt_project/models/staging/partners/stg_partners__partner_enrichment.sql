with

source as (

    select * from {{ source('partners', 'partner_enrichment') }}

),

renamed as (

    select
        ---------- ids
        {{ cible.clean_text('customer_number') }} as customer_number,
        lower({{ cible.clean_text('provider') }}) as provider,

        ---------- properties
        lower({{ cible.clean_text('attribute') }}) as attribute,
        {{ cible.clean_text('value') }} as attribute_value,

        ---------- timestamps
        {{ cible.parse_timestamp('fetched_at') }} as fetched_at,

        ---------- what the source said
        {{ cible.clean_text('fetched_at') }} as source_fetched_at,
        {{ cible.raw_payload('partners', 'partner_enrichment') }} as raw_payload,

        ---------- load metadata
        {{ cible.load_metadata() }}

    from source

),

validated as (

    select
        *,
        case
            when customer_number is null or attribute is null then 'missing_required_value'
            when {{ cible.failed_to_parse('source_fetched_at', 'fetched_at') }} then 'unparseable_timestamp'
            when {{ cible.is_in_future('fetched_at') }} then 'future_timestamp'
            when {{ cible.is_before_earliest_date('fetched_at', 'partner_enrichment.fetched_at') }} then 'before_earliest_date'
        end as invalid_reason

    from renamed

),

final as (

    select
        {{ cible.surrogate_key(['customer_number', 'attribute', 'provider', 'source_fetched_at']) }}
            as enrichment_id,
        customer_number,
        attribute,
        attribute_value,
        provider,
        fetched_at,
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
