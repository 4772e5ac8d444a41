{#
    Every row Cible did not keep as it came, with where it came from, why, and what it said:
    - `load`: lines the loader could not read (`raw._load_rejects`);
    - `staging`, issue level `row`: rows that break a rule (missing key, unparseable or future
      timestamp, unknown event type, ...), kept out of the clean tables;
    - `staging`, issue level `field`: rows kept, with one field nulled (an implausible age, an
      invalid e-mail, ...);
    - `identity`: valid rows naming a customer the CRM does not hold, or order lines without a
      valid order;
    - `deduplication`: a copy of a key whose content differs from the receipt kept
      (`conflicting_duplicate`), its payload holding both: `{"quarantined": ..., "kept": ...}`.
    Sources and rules come from `quality_registry()`.
#}

{%- set registry = cible.quality_registry() %}
{%- set string = dbt.type_string() %}

with

load_rejects as (

    select
        source_name,
        'load' as stage,
        'row' as issue_level,
        reason,
        cast(null as {{ string }}) as field_name,
        cast(null as {{ string }}) as raw_key,
        source_file,
        source_line,
        raw_payload,
        loaded_at

    from {{ ref('stg_loader__load_rejects') }}

),

{% for entry in registry %}
{{ entry.source }}_rejected_rows as (

    select
        '{{ entry.source }}' as source_name,
        'staging' as stage,
        'row' as issue_level,
        invalid_reason as reason,
        cast(null as {{ string }}) as field_name,
        {{ cible.raw_key(entry.key) }} as raw_key,
        source_file,
        source_line,
        raw_payload,
        loaded_at

    from {{ ref(entry.staging) }}
    where not is_valid

),

{% for field in entry.field_issues %}
{{ entry.source }}_{{ field }}_issues as (

    select
        '{{ entry.source }}' as source_name,
        'staging' as stage,
        'field' as issue_level,
        {{ field }}_issue as reason,
        '{{ field }}' as field_name,
        {{ cible.raw_key(entry.key) }} as raw_key,
        source_file,
        source_line,
        raw_payload,
        loaded_at

    from {{ ref(entry.staging) }}
    where is_valid
        and {{ field }}_issue is not null

),

{% endfor %}
{% if entry.flag %}
{%- set staged_key = [] %}
{%- for column in entry.key %}{% do staged_key.append('staged.' ~ column) %}{% endfor %}
{{ entry.source }}_identity_issues as (

    select
        '{{ entry.source }}' as source_name,
        'identity' as stage,
        'row' as issue_level,
        '{{ entry.flag_reason }}' as reason,
        cast(null as {{ string }}) as field_name,
        {{ cible.raw_key(staged_key) }} as raw_key,
        flagged.source_file,
        flagged.source_line,
        staged.raw_payload,
        staged.loaded_at

    from {{ ref(entry.deduplicated) }} as flagged
    inner join {{ ref(entry.staging) }} as staged
        on flagged.source_file = staged.source_file
        and flagged.source_line = staged.source_line
    where flagged.{{ entry.flag }}

),

{% endif %}
{% if entry.keep %}
{{ entry.source }}_conflicting_copies as (

    select
        '{{ entry.source }}' as source_name,
        'deduplication' as stage,
        'row' as issue_level,
        'conflicting_duplicate' as reason,
        cast(null as {{ string }}) as field_name,
        {{ cible.raw_key(entry.key) }} as raw_key,
        source_file,
        source_line,
        {{ dbt.concat(["'{\"quarantined\": '", "raw_payload", "', \"kept\": '", "kept_payload", "'}'"]) }}
            as raw_payload,
        loaded_at

    from ({{ cible.ranked_receipts(entry) }}) as receipts
    where receipt_rank > 1
        and not is_same_as_kept

),

{% endif %}
{% endfor %}
unioned as (

    select * from load_rejects
    {%- for entry in registry %}
    union all
    select * from {{ entry.source }}_rejected_rows
    {%- for field in entry.field_issues %}
    union all
    select * from {{ entry.source }}_{{ field }}_issues
    {%- endfor %}
    {%- if entry.flag %}
    union all
    select * from {{ entry.source }}_identity_issues
    {%- endif %}
    {%- if entry.keep %}
    union all
    select * from {{ entry.source }}_conflicting_copies
    {%- endif %}
    {%- endfor %}

),

final as (

    select
        {{ cible.surrogate_key(['source_name', 'stage', 'issue_level', 'reason', 'field_name',
                                'source_file', 'source_line']) }} as quarantine_id,
        *

    from unioned

)

select * from final
