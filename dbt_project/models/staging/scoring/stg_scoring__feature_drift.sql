{# Written by the scoring steps (ml/scoring); empty before their first run. #}

with

source as (

    select * from {{ cible.source_or_empty('scoring', 'feature_drift') }}

),

renamed as (

    select
        {{ cible.typed_source_columns('scoring', 'feature_drift') }}

    from source

)

select * from renamed
