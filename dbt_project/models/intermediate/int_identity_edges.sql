{#
    The evidence that two CRM records are the same person, one row per link:
    - `shared_email`: the same normalised e-mail (each record is linked to the group's
      smallest customer number, which is enough to connect the group);
    - `shared_phone_and_name`: the same E.164 phone and names within a small edit distance
      (households share a landline, so a phone alone is not enough).
    An e-mail or phone held by more records than `max_records_per_identifier` is a placeholder
    (`noemail@...`, `0000000000`) and links nothing.
#}

with

records as (

    select customer_number, email, phone_e164, name_key
    from {{ ref('int_customer_records_deduplicated') }}

),

email_groups as (

    select
        email,
        count(*) as record_count,
        min(customer_number) as group_anchor

    from records
    where email is not null
    group by email

),

email_links as (

    select
        records.customer_number as record_number,
        email_groups.group_anchor as linked_record_number,
        'shared_email' as match_rule,
        records.email as evidence,
        cast(null as {{ dbt.type_int() }}) as name_distance

    from records
    inner join email_groups
        on records.email = email_groups.email
    where email_groups.record_count between 2 and {{ var('max_records_per_identifier') }}
        and records.customer_number <> email_groups.group_anchor

),

phone_groups as (

    select
        phone_e164,
        count(*) as record_count

    from records
    where phone_e164 is not null
    group by phone_e164

),

phone_pairs as (

    select
        left_record.customer_number as record_number,
        right_record.customer_number as linked_record_number,
        left_record.phone_e164,
        {{ cible.edit_distance('left_record.name_key', 'right_record.name_key') }} as name_distance

    from records as left_record
    inner join phone_groups
        on left_record.phone_e164 = phone_groups.phone_e164
    inner join records as right_record
        on left_record.phone_e164 = right_record.phone_e164
        and left_record.customer_number < right_record.customer_number
    where phone_groups.record_count between 2 and {{ var('max_records_per_identifier') }}

),

phone_links as (

    select
        record_number,
        linked_record_number,
        'shared_phone_and_name' as match_rule,
        phone_e164 as evidence,
        name_distance

    from phone_pairs
    where name_distance <= {{ var('max_name_distance_for_phone_match') }}

),

final as (

    select * from email_links
    union all
    select * from phone_links

)

select * from final
