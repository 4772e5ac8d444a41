{# Written by the scoring steps (ml/scoring); empty before their first run. #}

with

source as (

    select * from {{ cible.source_or_empty('scoring', 'model_curves') }}

),

renamed as (

    select
        {{ cible.typed_source_columns('scoring', 'model_curves') }}

    from source

)

select * from renamed
