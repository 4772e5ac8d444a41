{# Valid partner enrichment rows, one per (customer record, attribute, provider, fetch), with the resolved customer. #}

with

enrichment as (

    select * from {{ ref('stg_partners__partner_enrichment') }}
    where is_valid

),

identities as (

    select customer_number, customer_id from {{ ref('int_customer_identities_resolved') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by enrichment_id
            order by loaded_at asc, source_file asc, source_line asc
        ) as receipt_rank

    from enrichment

),

final as (

    select
        ranked.enrichment_id,
        ranked.customer_number,
        identities.customer_id,
        identities.customer_number is null as is_unknown_customer,
        ranked.attribute,
        ranked.attribute_value,
        ranked.provider,
        ranked.fetched_at,
        ranked.source_file,
        ranked.source_line

    from ranked
    left join identities
        on ranked.customer_number = identities.customer_number
    where ranked.receipt_rank = 1

)

select * from final
