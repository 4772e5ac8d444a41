{# Written by the scoring steps (ml/scoring); empty before a search writes its leaderboard. #}

with

source as (

    select * from {{ cible.source_or_empty('scoring', 'model_leaderboard') }}

),

renamed as (

    select
        {{ cible.typed_source_columns('scoring', 'model_leaderboard') }}

    from source

)

select * from renamed
