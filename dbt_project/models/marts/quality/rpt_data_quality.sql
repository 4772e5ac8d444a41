{#
    Data-quality figures per source and reason: how many rows or fields were quarantined, and
    their share of the source's rows. Late events are counted too: they are kept, but a
    data team wants to see how many arrive late.
#}

with

quarantined as (

    select * from {{ ref('fct_quarantined_rows') }}

),

reconciliation as (

    select source_name, rows_in_files from {{ ref('rpt_source_reconciliation') }}

),

issue_counts as (

    select
        source_name,
        stage,
        issue_level,
        reason,
        coalesce(field_name, '') as field_name,
        count(*) as affected_rows

    from quarantined
    group by source_name, stage, issue_level, reason, coalesce(field_name, '')

),

late_events as (

    select
        'events' as source_name,
        'staging' as stage,
        'flag' as issue_level,
        'late_event' as reason,
        'received_at' as field_name,
        count(*) as affected_rows

    from {{ ref('int_events_deduplicated') }}
    where is_late_arrival

),

unioned as (

    select * from issue_counts
    union all
    select * from late_events

),

final as (

    select
        unioned.source_name,
        unioned.stage,
        unioned.issue_level,
        unioned.reason,
        unioned.field_name,
        cast(unioned.affected_rows as {{ dbt.type_bigint() }}) as affected_rows,
        {{ cible.safe_divide('unioned.affected_rows', 'reconciliation.rows_in_files') }} as share_of_rows

    from unioned
    left join reconciliation
        on unioned.source_name = reconciliation.source_name

)

select * from final
