{#
    One row per person: the CRM records of a customer_id merged by survivorship rules.
    - contact points (e-mail, phone) and address: the most recently updated record holding one,
      because people update them when they change;
    - names, gender and socio-demographics: the most recently updated record holding them;
    - birth date: the oldest record holding a valid one (the first declaration is the one most
      often checked against an identity document in boutiques);
    - created_at: the earliest; updated_at: the latest; signup channel: the anchor record's.
    Each rule ranks the records that have a value and takes the first, so a null never wins.
#}

{%- set latest_first = "updated_at desc nulls last, created_at desc nulls last, customer_number desc" %}
{%- set survivorship = {
    'email': latest_first,
    'phone_e164': latest_first,
    'first_name': latest_first,
    'last_name': latest_first,
    'gender': latest_first,
    'postcode': latest_first,
    'city': latest_first,
    'country_code': latest_first,
    'pcs_code': latest_first,
    'household_size': latest_first,
    'birth_date': "created_at asc nulls last, customer_number asc",
} %}

with

records as (

    select * from {{ ref('int_customer_records_deduplicated') }}

),

identities as (

    select * from {{ ref('int_customer_identities_resolved') }}

),

identified_records as (

    select
        identities.customer_id,
        identities.anchor_customer_number,
        identities.is_anchor_record,
        records.*

    from records
    inner join identities
        on records.customer_number = identities.customer_number

),

ranked as (

    select
        *,
        {%- for field, ordering in survivorship.items() %}
        row_number() over (
            partition by customer_id
            order by case when {{ field }} is null then 1 else 0 end, {{ ordering }}
        ) as {{ field }}_rank{{ "," if not loop.last }}
        {%- endfor %}

    from identified_records

),

merged as (

    select
        customer_id,
        max(anchor_customer_number) as anchor_customer_number,
        {%- for field in survivorship %}
        max(case when {{ field }}_rank = 1 then {{ field }} end) as {{ field }},
        {%- endfor %}
        max(case when is_anchor_record then signup_channel end) as signup_channel,
        min(created_at) as created_at,
        max(updated_at) as updated_at,
        count(*) as record_count,
        {{ dbt.listagg('customer_number', "', '", 'order by customer_number') }} as customer_numbers

    from ranked
    group by customer_id

)

select * from merged
