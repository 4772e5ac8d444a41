{#
    Why records and devices belong to each customer: one row per link that identity resolution
    used, with its rule and evidence, for every customer made of more than one CRM record, and
    one row per device linked by a login (shared devices are listed, linked to nobody).
#}

with

identities as (

    select * from {{ ref('int_customer_identities_resolved') }}

),

edges as (

    select * from {{ ref('int_identity_edges') }}

),

devices as (

    select * from {{ ref('int_devices_resolved') }}

),

record_links as (

    select
        identities.customer_id,
        'crm_record' as link_type,
        edges.record_number as identifier,
        edges.linked_record_number as linked_to,
        edges.match_rule,
        edges.evidence,
        edges.name_distance

    from edges
    inner join identities
        on edges.record_number = identities.customer_number

),

device_links as (

    select
        customer_id,
        'device' as link_type,
        anonymous_id as identifier,
        cast(null as {{ dbt.type_string() }}) as linked_to,
        case when is_shared_device then 'shared_device_not_linked' else 'login_on_device' end
            as match_rule,
        {{ dbt.concat(["cast(customers_logged_in as " ~ dbt.type_string() ~ ")", "' customer(s) logged in, first at '",
                       "cast(linked_at as " ~ dbt.type_string() ~ ")"]) }} as evidence,
        cast(null as {{ dbt.type_int() }}) as name_distance

    from devices

),

final as (

    select * from record_links
    union all
    select * from device_links

)

select * from final
