{#
    Consent state of each customer on the as-of date, per purpose: the latest grant or
    withdrawal before it. No record means no consent (RGPD opt-in).
#}

with

feature_window as (

    select * from {{ ref('int_feature_window') }}

),

consents as (

    select
        consents.*,
        row_number() over (
            partition by consents.customer_id, consents.purpose
            order by consents.occurred_at desc, consents.consent_event_id desc
        ) as consent_rank

    from {{ ref('int_consents_attributed') }} as consents
    cross join feature_window
    where not consents.is_unknown_customer
        and consents.occurred_at < feature_window.as_of_at

),

final as (

    select
        customer_id,
        {%- for purpose in ['profiling', 'email', 'sms', 'ads'] %}
        coalesce(max(case when purpose = '{{ purpose }}' then is_granted end), false)
            as has_{{ purpose }}_consent{{ "," if not loop.last }}
        {%- endfor %}

    from consents
    where consent_rank = 1
    group by customer_id

)

select * from final
