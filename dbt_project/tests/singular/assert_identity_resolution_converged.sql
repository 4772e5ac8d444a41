{#
    Label propagation ran a fixed number of passes (`identity_resolution_passes`). If two linked
    records still belong to different customers, the passes were too few: raise the var.
#}
{{ config(meta={'dagster': {'ref': {'name': 'int_customer_identities_resolved'}}}) }}

select
    edges.record_number,
    edges.linked_record_number,
    left_identity.customer_id as record_customer_id,
    right_identity.customer_id as linked_customer_id

from {{ ref('int_identity_edges') }} as edges
inner join {{ ref('int_customer_identities_resolved') }} as left_identity
    on edges.record_number = left_identity.customer_number
inner join {{ ref('int_customer_identities_resolved') }} as right_identity
    on edges.linked_record_number = right_identity.customer_number
where left_identity.customer_id <> right_identity.customer_id
