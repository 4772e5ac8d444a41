with

source as (

    select * from {{ source('loader', 'load_files') }}

),

renamed as (

    select
        ---------- ids
        load_id,
        source as source_name,
        source_file,

        ---------- properties
        file_format,
        warnings,

        ---------- numerics
        cast(rows_loaded as {{ dbt.type_bigint() }}) as rows_loaded,
        cast(rows_rejected as {{ dbt.type_bigint() }}) as rows_rejected,
        cast(coalesce(rows_suppressed, 0) as {{ dbt.type_bigint() }}) as rows_suppressed,
        cast(rows_in_file as {{ dbt.type_bigint() }}) as rows_in_file,
        cast(lines_in_file as {{ dbt.type_bigint() }}) as lines_in_file,
        cast(bytes as {{ dbt.type_bigint() }}) as file_bytes,

        ---------- timestamps
        cast(loaded_at as {{ api.Column.translate_type('timestamp') }}) as loaded_at

    from source

)

select * from renamed
