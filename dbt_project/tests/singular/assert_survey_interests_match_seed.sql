{# The `survey_interests` var (one feature column each) must list exactly the seed's interests. #}
{%- set interests = var('survey_interests') %}

with

seeded as (

    select distinct interest from {{ ref('survey_questions') }}

),

configured as (

    {%- for interest in interests %}
    select '{{ interest }}' as interest
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

)

select 'missing from var' as problem, interest
from seeded
where interest not in (select interest from configured)
union all
select 'missing from seed' as problem, interest
from configured
where interest not in (select interest from seeded)
