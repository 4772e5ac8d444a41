{# Written by the audience export step (cible/activation); empty before the first export. #}

with

source as (

    select * from {{ cible.source_or_empty('activation', 'audience_exports') }}

),

renamed as (

    select
        {{ cible.typed_source_columns('activation', 'audience_exports') }}

    from source

)

select * from renamed
