{# Valid consent events, one per consent event id, with the resolved customer. #}

with

consents as (

    select * from {{ ref('stg_privacy__consents') }}
    where is_valid

),

identities as (

    select customer_number, customer_id from {{ ref('int_customer_identities_resolved') }}

),

attributed as (

    {#- The earliest receipt: the first record of a consent event is the proof of it; a later
        copy is a re-export and must not replace the evidence. #}
    {{ cible.dedupe_and_attach('consents', key='consent_event_id', keep='earliest') }}

),

final as (

    select
        consent_event_id,
        customer_number,
        customer_id,
        is_unknown_customer,
        purpose,
        consent_status,
        is_granted,
        occurred_at,
        proof,
        source_file,
        source_line

    from attributed

)

select * from final
