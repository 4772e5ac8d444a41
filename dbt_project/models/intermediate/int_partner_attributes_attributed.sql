{# Valid partner enrichment rows, one per (customer record, attribute, provider, fetch), with the resolved customer. #}

with

enrichment as (

    select * from {{ ref('stg_partners__partner_enrichment') }}
    where is_valid

),

identities as (

    select customer_number, customer_id from {{ ref('int_customer_identities_resolved') }}

),

attributed as (

    {#- The earliest receipt: the key covers the fetch, so a copy is the same fetch re-exported
        (a newer value comes from a newer fetch, with its own id). #}
    {{ cible.dedupe_and_attach('enrichment', key='enrichment_id', keep='earliest') }}

),

final as (

    select
        enrichment_id,
        customer_number,
        customer_id,
        is_unknown_customer,
        attribute,
        attribute_value,
        provider,
        fetched_at,
        source_file,
        source_line

    from attributed

)

select * from final
