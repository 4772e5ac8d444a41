{#
    One row per raw order row. Channels whose export sends minor units (the
    `order_amount_units` seed) are converted to units here, and amounts to euros at the
    `currency_rates` seed's rate: an order in a currency the seed does not list is quarantined
    as `unknown_currency`, never counted as euros. The seeds are read as lookups to validate
    and normalise, not joined to enrich the grain.
#}

with

source as (

    select * from {{ source('shop', 'orders') }}

),

cents_channels as (

    select channel from {{ ref('order_amount_units') }} where amount_unit = 'cents'

),

renamed as (

    select
        ---------- ids
        {{ cible.clean_text('order_id') }} as order_id,
        {{ cible.clean_text('customer_number') }} as customer_number,
        {{ cible.clean_text('store_code') }} as store_code,
        upper({{ cible.clean_text('promo_code') }}) as promo_code,

        ---------- properties
        lower({{ cible.clean_text('channel') }}) as channel,
        upper(coalesce({{ cible.clean_text('currency') }}, 'EUR')) as currency,

        ---------- numerics
        {{ cible.parse_decimal('amount') }} as source_amount,

        ---------- timestamps
        {{ cible.parse_timestamp('ordered_at') }} as ordered_at,

        ---------- what the source said
        {{ cible.text_to_parse('amount') }} as source_amount_text,
        {{ cible.text_to_parse('ordered_at') }} as source_ordered_at,
        {{ cible.raw_payload('shop', 'orders') }} as raw_payload,

        ---------- load metadata
        {{ cible.load_metadata() }}

    from source

),

in_units as (

    select
        *,
        channel in (select channel from cents_channels) as was_in_cents,
        case
            when channel in (select channel from cents_channels) then source_amount / 100
            else source_amount
        end as amount_in_currency,
        (
            select max(rates.eur_per_unit)
            from {{ ref('currency_rates') }} as rates
            where rates.currency = renamed.currency
        ) as eur_per_unit

    from renamed

),

normalised as (

    select
        *,
        amount_in_currency * eur_per_unit as amount

    from in_units

),

validated as (

    select
        *,
        case
            when order_id is null or customer_number is null then 'missing_required_value'
            when {{ cible.is_exponent_notation('order_id') }}
                or {{ cible.is_exponent_notation('customer_number') }} then 'exponent_identifier'
            when {{ cible.has_impossible_offset('source_ordered_at') }} then 'impossible_offset'
            when {{ cible.failed_to_parse('source_ordered_at', 'ordered_at') }} then 'unparseable_timestamp'
            when ordered_at is null then 'missing_required_value'
            when {{ cible.failed_to_parse('source_amount_text', 'source_amount') }} then 'unparseable_number'
            {#- `1e3` casts to 1000, but no till or export writes an amount so: a mangled cell. #}
            when {{ cible.is_exponent_notation('source_amount_text') }} then 'exponent_number'
            when source_amount is null then 'missing_required_value'
            when eur_per_unit is null then 'unknown_currency'
            when {{ cible.is_in_future('ordered_at') }} then 'future_timestamp'
            when {{ cible.is_before_earliest_date('ordered_at', 'orders.ordered_at') }} then 'before_earliest_date'
            when amount < 0 then 'negative_amount'
        end as invalid_reason,
        case
            when channel is not null and channel not in ('web', 'app', 'store', 'call_centre')
                then 'unknown_value'
        end as channel_issue

    from normalised

),

final as (

    select
        order_id,
        customer_number,
        ordered_at,
        cast(amount as decimal(18, 2)) as amount,
        currency,
        was_in_cents,
        case when channel_issue is null then channel end as channel,
        store_code,
        promo_code,
        promo_code is not null as has_promo_code,
        invalid_reason is null as is_valid,
        invalid_reason,
        channel_issue,
        raw_payload,
        source_file,
        source_line,
        loaded_at,
        load_id

    from validated

)

select * from final
