{# Valid consent events, one per consent event id, with the resolved customer. #}

with

consents as (

    select * from {{ ref('stg_privacy__consents') }}
    where is_valid

),

identities as (

    select customer_number, customer_id from {{ ref('int_customer_identities_resolved') }}

),

ranked as (

    select
        *,
        row_number() over (
            partition by consent_event_id
            order by loaded_at asc, source_file asc, source_line asc
        ) as receipt_rank

    from consents

),

final as (

    select
        ranked.consent_event_id,
        ranked.customer_number,
        identities.customer_id,
        identities.customer_number is null as is_unknown_customer,
        ranked.purpose,
        ranked.consent_status,
        ranked.is_granted,
        ranked.occurred_at,
        ranked.proof,
        ranked.source_file,
        ranked.source_line

    from ranked
    left join identities
        on ranked.customer_number = identities.customer_number
    where ranked.receipt_rank = 1

)

select * from final
