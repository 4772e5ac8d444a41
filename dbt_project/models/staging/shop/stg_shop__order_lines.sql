with

source as (

    select * from {{ source('shop', 'order_lines') }}

),

renamed as (

    select
        ---------- ids
        {{ cible.clean_text('order_id') }} as order_id,
        {{ cible.parse_integer('line_number') }} as line_number,
        {{ cible.clean_text('product_sku') }} as product_sku,

        ---------- properties
        lower({{ cible.clean_text('product_category') }}) as product_category,

        ---------- numerics
        coalesce({{ cible.parse_integer('quantity') }}, 1) as quantity,
        {{ cible.parse_decimal('unit_price') }} as unit_price,

        ---------- what the source said
        {{ cible.text_to_parse('line_number') }} as source_line_number,
        {{ cible.text_to_parse('quantity') }} as source_quantity,
        {{ cible.text_to_parse('unit_price') }} as source_unit_price,
        {{ cible.raw_payload('shop', 'order_lines') }} as raw_payload,

        ---------- load metadata
        {{ cible.load_metadata() }}

    from source

),

validated as (

    select
        *,
        case
            when order_id is null then 'missing_required_value'
            when {{ cible.failed_to_parse('source_line_number', 'line_number') }} then 'unparseable_number'
            when line_number is null then 'missing_required_value'
            when {{ cible.failed_to_parse('source_quantity', cible.parse_integer('source_quantity')) }}
                then 'unparseable_number'
            when {{ cible.failed_to_parse('source_unit_price', 'unit_price') }} then 'unparseable_number'
            when quantity <= 0 or unit_price < 0 then 'out_of_range'
        end as invalid_reason

    from renamed

),

final as (

    select
        order_id,
        line_number,
        product_sku,
        product_category,
        quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        cast(quantity * unit_price as decimal(18, 2)) as line_amount,
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
