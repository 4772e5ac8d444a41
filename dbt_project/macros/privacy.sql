{# The purposes a consent is given for (the `purpose` values of the consents source). #}
{% macro consent_purposes() -%}
    {{ return(['profiling', 'email', 'sms', 'ads']) }}
{%- endmacro %}


{# The `consent_when_absent` setting (dbt_project.yml, docs/privacy.md), checked: what a customer
   with no consent event for a purpose gets. `denied`: opt-in, consent is the legal basis;
   `granted`: legitimate interest (GDPR art. 6(1)(f)) with a right to object; `auto`:
   `granted` when the data holds no consent event at all for that purpose (a dataset without a
   consent source), `denied` as soon as it collects that consent. #}
{% macro consent_when_absent() -%}
    {%- set setting = var('consent_when_absent') -%}
    {%- set choices = ['denied', 'granted', 'auto'] -%}
    {%- set problems = [] -%}
    {%- if setting is not mapping -%}
        {%- do problems.append("must map each purpose to one of " ~ choices | join(', ') ~ ", found " ~ setting) -%}
    {%- else -%}
        {%- for purpose in cible.consent_purposes() -%}
            {%- if setting.get(purpose) not in choices -%}
                {%- do problems.append(purpose ~ ": must be one of " ~ choices | join(', ') ~ ", found " ~ setting.get(purpose)) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for purpose in setting if purpose not in cible.consent_purposes() -%}
            {%- do problems.append(purpose ~ ": not a purpose (" ~ cible.consent_purposes() | join(', ') ~ ")") -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if problems -%}
        {{ exceptions.raise_compiler_error(
            "The dbt variable consent_when_absent (dbt_project.yml, or --vars) is invalid: "
            ~ problems | join('; ') ~ ". See docs/privacy.md.") }}
    {%- endif -%}
    {{ return(setting) }}
{%- endmacro %}
