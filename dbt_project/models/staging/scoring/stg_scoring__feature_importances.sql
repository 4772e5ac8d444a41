{# Written by the scoring steps (ml/scoring); empty before their first run. #}

with

source as (

    select * from {{ cible.source_or_empty('scoring', 'feature_importances') }}

),

renamed as (

    select
        {{ cible.typed_source_columns('scoring', 'feature_importances') }}

    from source

)

select * from renamed
