{# Written by the audience export step (cible/activation); empty before the first export. #}

with

source as (

    select * from {{ cible.source_or_empty('activation', 'webhook_batches') }}

),

renamed as (

    select
        {{ cible.typed_source_columns('activation', 'webhook_batches') }}

    from source

)

select * from renamed
