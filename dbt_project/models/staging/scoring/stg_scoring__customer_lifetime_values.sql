{# Written by the scoring steps (ml/scoring); empty before their first run. #}

with

source as (

    select * from {{ cible.source_or_empty('scoring', 'customer_lifetime_values') }}

),

renamed as (

    select
        {{ cible.typed_source_columns('scoring', 'customer_lifetime_values') }}

    from source

)

select * from renamed
