{#
    The consent state: every customer's effective consent per purpose on the as-of date, with
    the rule that decided it and its evidence. The latest valid event before the as-of date
    wins; an objection (GDPR art. 21) is a withdrawal. A customer with no event gets what the
    `consent_when_absent` setting says for that purpose (macros/privacy.sql, docs/privacy.md).
    `fct_customer_consents` publishes it and the ML steps enforce it; `fct_customer_features`
    pivots it into its `has_<purpose>_consent` flags, so both say the same.
#}

{%- set when_absent = cible.consent_when_absent() %}

with

feature_window as (

    select * from {{ ref('int_feature_window') }}

),

customers as (

    select customer_id from {{ ref('int_customers_merged') }}

),

purposes as (

    {%- for purpose in cible.consent_purposes() %}
    select
        '{{ purpose }}' as purpose,
        '{{ when_absent[purpose] }}' as when_absent
    {{ "union all" if not loop.last }}
    {%- endfor %}

),

events as (

    select consents.*
    from {{ ref('int_consents_attributed') }} as consents
    cross join feature_window
    where consents.occurred_at < feature_window.as_of_at

),

{#- The purposes the data collects consent for: with `auto`, one event of a purpose (of any
    customer, known or not) is enough to make its absence a refusal. #}
collected as (

    select purpose, count(*) as consent_events
    from events
    group by purpose

),

latest as (

    select *
    from (
        select
            events.*,
            row_number() over (
                partition by events.customer_id, events.purpose
                order by events.occurred_at desc, events.consent_event_id desc
            ) as consent_rank
        from events
        where not events.is_unknown_customer
    ) as ranked
    where consent_rank = 1

),

decided as (

    select
        customers.customer_id,
        purposes.purpose,
        purposes.when_absent,
        collected.consent_events is not null as is_collected,
        latest.consent_event_id,
        latest.proof,
        latest.occurred_at,
        case
            when latest.consent_status = 'granted' then 'latest_event_granted'
            when latest.consent_status = 'withdrawn' then 'latest_event_withdrawn'
            when latest.consent_status = 'objected' then 'objection'
            when purposes.when_absent = 'granted' then 'absent_granted'
            when purposes.when_absent = 'auto' and collected.consent_events is null
                then 'absent_granted'
            else 'absent_denied'
        end as rule_applied,
        feature_window.as_of_at

    from customers
    cross join purposes
    cross join feature_window
    left join latest
        on customers.customer_id = latest.customer_id
        and purposes.purpose = latest.purpose
    left join collected
        on purposes.purpose = collected.purpose

),

final as (

    select
        customer_id,
        purpose,
        rule_applied in ('latest_event_granted', 'absent_granted') as is_allowed,
        case
            when rule_applied = 'absent_granted' then 'legitimate_interest'
            else 'consent'
        end as legal_basis,
        rule_applied,
        {#- The evidence: the deciding event's, or the setting that decided without one. #}
        coalesce(
            proof,
            case
                when consent_event_id is not null
                    then {{ dbt.concat(["'consent event '", "consent_event_id"]) }}
            end,
            {{ dbt.concat([
                "'no consent event; consent_when_absent.'", "purpose", "' = '", "when_absent",
                "case when when_absent <> 'auto' then ''
                    when is_collected then ' and the data collects this consent'
                    else ' and the data holds no consent event for this purpose' end"
            ]) }}
        ) as proof,
        consent_event_id,
        occurred_at as decided_at,
        as_of_at

    from decided

)

select * from final
