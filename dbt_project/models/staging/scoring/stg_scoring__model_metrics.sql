{# Written by the scoring steps (ml/scoring); empty before their first run. #}

with

source as (

    select * from {{ cible.source_or_empty('scoring', 'model_metrics') }}

),

renamed as (

    select
        {{ cible.typed_source_columns('scoring', 'model_metrics') }}

    from source

)

select * from renamed
