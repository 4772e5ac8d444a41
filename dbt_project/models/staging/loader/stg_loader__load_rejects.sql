with

source as (

    select * from {{ source('loader', 'load_rejects') }}

),

renamed as (

    select
        ---------- ids
        load_id,
        source as source_name,

        ---------- properties
        reason,
        error_detail,
        payload as raw_payload,

        ---------- load metadata
        source_file,
        cast(source_line as {{ dbt.type_bigint() }}) as source_line,
        cast(loaded_at as {{ api.Column.translate_type('timestamp') }}) as loaded_at

    from source

)

select * from renamed
