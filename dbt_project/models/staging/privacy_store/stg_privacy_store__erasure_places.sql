{# Written by the erasure step (cible/privacy/erasure.py); empty before its first run. #}

with

source as (

    select * from {{ cible.source_or_empty('privacy_store', 'erasure_places') }}

),

renamed as (

    select
        {{ cible.typed_source_columns('privacy_store', 'erasure_places') }}

    from source

)

select * from renamed
