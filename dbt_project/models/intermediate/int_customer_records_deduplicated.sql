{#
    One row per CRM record (customer number). A record exported more than once keeps its
    latest version: the most recent `updated_at`, then the latest load, file and line.
#}

with

customers as (

    select * from {{ ref('stg_crm__customers') }}
    where is_valid

),

ranked as (

    select
        *,
        row_number() over (
            partition by customer_number
            order by updated_at desc nulls last, loaded_at desc, source_file desc, source_line desc
        ) as export_rank,
        count(*) over (partition by customer_number) as export_count

    from customers

),

final as (

    select
        customer_number,
        email,
        phone_e164,
        first_name,
        last_name,
        name_key,
        gender,
        birth_date,
        postcode,
        city,
        country_code,
        pcs_code,
        household_size,
        signup_channel,
        created_at,
        updated_at,
        export_count,
        source_file,
        source_line

    from ranked
    where export_rank = 1

)

select * from final
