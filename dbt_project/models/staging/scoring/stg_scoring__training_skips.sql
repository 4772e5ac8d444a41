{# Written by the scoring steps (ml/scoring); empty before a training run skips a target. #}

with

source as (

    select * from {{ cible.source_or_empty('scoring', 'training_skips') }}

),

renamed as (

    select
        {{ cible.typed_source_columns('scoring', 'training_skips') }}

    from source

)

select * from renamed
