{#
    Identity resolution: CRM records linked by `int_identity_edges` form connected components,
    found by label propagation (each pass gives every record the smallest label among itself
    and its neighbours). A singular test proves the passes were enough. Each component is one
    person; its `customer_id` is a hash of its anchor, the oldest record, so the id stays the
    same from one run to the next as long as that record exists.
#}

{%- set passes = var('identity_resolution_passes') %}

with

records as (

    select customer_number, created_at
    from {{ ref('int_customer_records_deduplicated') }}

),

edges as (

    select record_number, linked_record_number
    from {{ ref('int_identity_edges') }}

),

linked_nodes as (

    select record_number as node from edges
    union
    select linked_record_number as node from edges

),

{#- Both directions, plus a self-loop so a node keeps its own label in the minimum. #}
neighbours as (

    select record_number as node, linked_record_number as neighbour from edges
    union all
    select linked_record_number as node, record_number as neighbour from edges
    union all
    select node, node as neighbour from linked_nodes

),

labels_0 as (

    select node, node as label
    from linked_nodes

),

{% for pass in range(1, passes + 1) %}
labels_{{ pass }} as (

    select
        neighbours.node,
        min(labels_{{ pass - 1 }}.label) as label

    from neighbours
    inner join labels_{{ pass - 1 }}
        on neighbours.neighbour = labels_{{ pass - 1 }}.node
    group by neighbours.node

),

{% endfor %}
components as (

    select
        records.customer_number,
        records.created_at,
        coalesce(labels_{{ passes }}.label, records.customer_number) as component_label

    from records
    left join labels_{{ passes }}
        on records.customer_number = labels_{{ passes }}.node

),

anchored as (

    select
        *,
        first_value(customer_number) over (
            partition by component_label
            order by created_at asc nulls last, customer_number asc
            rows between unbounded preceding and unbounded following
        ) as anchor_customer_number,
        count(*) over (partition by component_label) as records_in_customer

    from components

),

final as (

    select
        customer_number,
        {{ cible.surrogate_key(['anchor_customer_number']) }} as customer_id,
        anchor_customer_number,
        component_label,
        records_in_customer,
        customer_number = anchor_customer_number as is_anchor_record

    from anchored

)

select * from final
