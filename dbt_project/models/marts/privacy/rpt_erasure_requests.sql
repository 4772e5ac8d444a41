{{ config(materialized="view") }}

{#
    One row per erasure, whether a person asked (GDPR art. 17) or retention purged them:
    received, applied, the places it reached with their row counts, the latest verification,
    and whether it was applied within the legal month (art. 12(3)). A request waiting for the
    next run is `pending`. Built from the erasure step's bookkeeping (cible/privacy/erasure.py),
    which holds no identifier: an applied request's own row leaves raw.erasure_requests with the
    person, so its dates come from the bookkeeping.
#}

{%- set text = dbt.type_string() %}

with

requests as (

    select request_id, requested_at as received_at
    from {{ ref('stg_privacy__erasure_requests') }}
    where is_valid

),

erasures as (

    select * from {{ ref('stg_privacy_store__erasures') }}

),

places as (

    select
        request_id,
        count(*) as places_reached,
        sum(rows_purged) as rows_purged,
        {{ dbt.listagg(
            dbt.concat(['place', "': '", 'cast(rows_purged as ' ~ text ~ ')']),
            "'; '",
            'order by place'
        ) }} as places_purged

    from {{ ref('stg_privacy_store__erasure_places') }}
    where place_kind <> 'landing_file_still_holds'
    group by request_id

),

verifications as (

    select
        request_id,
        verified_at,
        places_scanned,
        remaining,
        remaining_places,
        row_number() over (partition by request_id order by verified_at desc) as recency

    from {{ ref('stg_privacy_store__erasure_verifications') }}

),

latest_verifications as (

    select * from verifications where recency = 1

),

pending as (

    select
        requests.request_id,
        'request' as origin,
        requests.received_at,
        cast(null as {{ dbt.type_timestamp() }}) as applied_at,
        cast(null as {{ dbt.type_bigint() }}) as crm_records_found

    from requests
    left join erasures on requests.request_id = erasures.request_id
    where erasures.request_id is null

),

all_requests as (

    select request_id, origin, received_at, applied_at, crm_records_found from erasures
    union all
    select request_id, origin, received_at, applied_at, crm_records_found from pending

),

final as (

    select
        all_requests.request_id,
        all_requests.origin,
        case
            when all_requests.applied_at is null then 'pending'
            when latest_verifications.remaining is null then 'applied'
            when latest_verifications.remaining = 0 then 'verified'
            else 'incomplete'
        end as status,
        all_requests.received_at,
        all_requests.applied_at,
        {{ dbt.datediff(
            'all_requests.received_at',
            'coalesce(all_requests.applied_at, ' ~ dbt.current_timestamp() ~ ')',
            'day'
        ) }} as days_taken,
        coalesce(
            all_requests.applied_at,
            {{ dbt.current_timestamp() }}
        ) <= {{ dbt.dateadd('month', 1, 'all_requests.received_at') }} as is_within_legal_limit,
        all_requests.crm_records_found,
        coalesce(places.places_reached, 0) as places_reached,
        coalesce(places.rows_purged, 0) as rows_purged,
        places.places_purged,
        latest_verifications.verified_at,
        latest_verifications.places_scanned,
        latest_verifications.remaining as verified_remaining,
        latest_verifications.remaining_places

    from all_requests
    left join places on all_requests.request_id = places.request_id
    left join latest_verifications
        on all_requests.request_id = latest_verifications.request_id

)

select * from final
