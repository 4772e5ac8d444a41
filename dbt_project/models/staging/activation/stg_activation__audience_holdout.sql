{# Written by the audience export step (cible/activation); empty before the first export. #}

with

source as (

    select * from {{ cible.source_or_empty('activation', 'audience_holdout') }}

),

renamed as (

    select
        {{ cible.typed_source_columns('activation', 'audience_holdout') }}

    from source

)

select * from renamed
