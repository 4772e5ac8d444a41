{#
    One row per raw CRM row (re-exports included: they are removed in intermediate so the
    reconciliation can count them). A record is only rejected when it has no customer number;
    a bad birth date, e-mail or phone is nulled and logged in quarantine as a field issue,
    because losing the whole customer for one bad field would cost more than it protects.
#}

with

source as (

    select * from {{ source('crm', 'customers') }}

),

renamed as (

    select
        ---------- ids
        {{ cible.clean_text('customer_number') }} as customer_number,

        ---------- identifiers
        {{ cible.normalise_email('email') }} as email,
        {{ cible.normalise_phone_e164('phone') }} as phone_e164,

        ---------- properties
        {{ cible.clean_text('first_name') }} as first_name,
        {{ cible.clean_text('last_name') }} as last_name,
        {{ cible.name_key('first_name', 'last_name') }} as name_key,
        upper({{ cible.clean_text('gender') }}) as gender_code,
        {{ cible.clean_text('postcode') }} as postcode,
        {{ cible.clean_text('city') }} as city,
        upper(coalesce({{ cible.clean_text('country_code') }}, 'FR')) as country_code,
        {{ cible.clean_text('pcs_code') }} as pcs_code,
        {{ cible.parse_integer('household_size') }} as household_size,
        lower({{ cible.clean_text('signup_channel') }}) as signup_channel,

        ---------- dates
        {{ cible.parse_date('birth_date') }} as parsed_birth_date,
        {{ cible.parse_timestamp('created_at') }} as created_at,
        {{ cible.parse_timestamp('updated_at') }} as updated_at,

        ---------- what the source said, to explain a rejection
        {{ cible.clean_text('email') }} as source_email,
        {{ cible.clean_text('phone') }} as source_phone,
        {{ cible.clean_text('birth_date') }} as source_birth_date,
        {{ cible.text_to_parse('household_size') }} as source_household_size,
        {{ cible.text_to_parse('created_at') }} as source_created_at,
        {{ cible.text_to_parse('updated_at') }} as source_updated_at,
        {{ cible.raw_payload('crm', 'customers') }} as raw_payload,

        ---------- load metadata
        {{ cible.load_metadata() }}

    from source

),

aged as (

    select
        *,
        floor(
            {{ dbt.datediff('parsed_birth_date', 'cast(loaded_at as date)', 'day') }} / 365.25
        ) as age_at_load

    from renamed

),

validated as (

    select
        *,

        case
            when customer_number is null then 'missing_required_value'
            when {{ cible.is_exponent_notation('customer_number') }} then 'exponent_identifier'
            when {{ cible.has_control_character('first_name') }}
                or {{ cible.has_control_character('last_name') }}
                or {{ cible.has_control_character('city') }} then 'control_character'
        end as invalid_reason,

        case
            when source_birth_date is not null and parsed_birth_date is null then 'unparseable_date'
            when parsed_birth_date > cast(loaded_at as date) then 'negative_age'
            when age_at_load > {{ var('max_plausible_age') }} then 'implausible_age'
            when age_at_load < {{ var('min_plausible_age') }} then 'implausible_age'
        end as birth_date_issue,

        case
            when source_email is not null and email is null then 'invalid_email'
        end as email_issue,

        case
            when source_phone is not null and phone_e164 is null then 'invalid_phone'
        end as phone_issue,

        case
            when gender_code is not null and gender_code not in ('F', 'M', 'X') then 'unknown_value'
        end as gender_issue,

        case
            when {{ cible.failed_to_parse('source_household_size', 'household_size') }} then 'unparseable_number'
            when household_size < 1 then 'out_of_range'
        end as household_size_issue,

        case
            when {{ cible.failed_to_parse('source_created_at', 'created_at') }} then 'unparseable_timestamp'
            when {{ cible.is_in_future('created_at') }} then 'future_timestamp'
            when {{ cible.is_before_earliest_date('created_at', 'customers.created_at') }} then 'before_earliest_date'
        end as created_at_issue,

        case
            when {{ cible.failed_to_parse('source_updated_at', 'updated_at') }} then 'unparseable_timestamp'
            when {{ cible.is_in_future('updated_at') }} then 'future_timestamp'
            when {{ cible.is_before_earliest_date('updated_at', 'customers.updated_at') }} then 'before_earliest_date'
        end as updated_at_issue

    from aged

),

final as (

    select
        customer_number,
        email,
        phone_e164,
        first_name,
        last_name,
        name_key,
        case when gender_issue is null then gender_code end as gender,
        postcode,
        city,
        country_code,
        pcs_code,
        case when household_size_issue is null then household_size end as household_size,
        signup_channel,
        case when birth_date_issue is null then parsed_birth_date end as birth_date,
        case when created_at_issue is null then created_at end as created_at,
        case when updated_at_issue is null then updated_at end as updated_at,
        invalid_reason is null as is_valid,
        invalid_reason,
        birth_date_issue,
        email_issue,
        phone_issue,
        gender_issue,
        household_size_issue,
        created_at_issue,
        updated_at_issue,
        source_birth_date,
        source_email,
        source_phone,
        raw_payload,
        source_file,
        source_line,
        loaded_at,
        load_id

    from validated

)

select * from final
