{#
    How each source flows from raw to clean, read by the quarantine and reconciliation marts so
    that a new source is declared once:
    - `staging`: its staging model (row-level `invalid_reason`, field-level `<field>_issue`);
    - `key`: the staging columns that identify a row (`dedupe_key`, when given, is the one the
      deduplicated model partitions by);
    - `field_issues`: the fields staging may null, with the reason in `<field>_issue`;
    - `deduplicated`: the model holding one row per key (re-sent or re-exported copies removed);
    - `flag` / `flag_reason`: the column of `deduplicated` marking rows quarantined after
      identity resolution (unknown customer, orphan line), and the reason recorded;
    - `clean` / `clean_filter` / `clean_count`: the model (and filter) holding the rows that go
      on, and how to count them there (`count(*)` unless said otherwise);
    - `unprocessed`: the model holding valid rows no run has processed yet, with their
      `unprocessed_reason` (`awaiting_next_run`, `later_than_lookback`): sources processed by
      day of occurrence, where a row can arrive after its day was processed (campaign events:
      only `awaiting_next_run`, a run takes every one not processed yet);
    - `keep`: which receipt of a key the deduplicated model keeps (as its `dedupe_and_attach`
      call says); given, a copy whose content differs from the kept one is no duplicate but a
      `conflicting_duplicate`, quarantined with both payloads (#16). Not given for customers
      (re-exports carry updates, merged by survivorship rules) nor events (a re-sent event has
      a later `received_at`).
#}
{% macro quality_registry() %}
    {{ return([
        {'source': 'customers', 'staging': 'stg_crm__customers', 'key': ['customer_number'],
         'field_issues': ['birth_date', 'email', 'phone', 'gender', 'household_size', 'created_at', 'updated_at'],
         'deduplicated': 'int_customer_records_deduplicated', 'flag': none,
         'clean': 'int_customer_identities_resolved', 'clean_filter': none},
        {'source': 'orders', 'keep': 'latest', 'staging': 'stg_shop__orders', 'key': ['order_id'],
         'field_issues': ['channel'],
         'deduplicated': 'int_orders_attributed', 'flag': 'is_unknown_customer', 'flag_reason': 'unknown_customer',
         'clean': 'fct_orders', 'clean_filter': none},
        {'source': 'order_lines', 'keep': 'latest', 'staging': 'stg_shop__order_lines', 'key': ['order_id', 'line_number'],
         'field_issues': [],
         'deduplicated': 'int_order_lines_attributed', 'flag': 'is_orphan_line', 'flag_reason': 'orphan_line',
         'clean': 'int_order_lines_attributed', 'clean_filter': 'not is_orphan_line'},
        {'source': 'events', 'staging': 'stg_web__events', 'key': ['event_id'],
         'field_issues': ['received_at', 'duration', 'scroll_depth'],
         'deduplicated': 'int_events_attributed', 'flag': 'is_unknown_customer', 'flag_reason': 'unknown_customer',
         'unprocessed': 'int_events_unprocessed',
         'clean': 'int_sessions_aggregated', 'clean_filter': none, 'clean_count': 'sum(events_count)'},
        {'source': 'campaign_events', 'keep': 'earliest', 'staging': 'stg_campaigns__campaign_events', 'key': ['campaign_event_id'],
         'field_issues': ['channel', 'promo_type'],
         'deduplicated': 'int_campaign_events_attributed', 'flag': 'is_unknown_customer', 'flag_reason': 'unknown_customer',
         'unprocessed': 'int_campaign_events_unprocessed',
         'clean': 'int_campaign_events_attributed', 'clean_filter': 'not is_unknown_customer'},
        {'source': 'survey_answers', 'keep': 'earliest', 'staging': 'stg_surveys__survey_answers', 'key': ['answer_id'],
         'field_issues': [],
         'deduplicated': 'int_survey_answers_attributed', 'flag': 'is_unknown_customer', 'flag_reason': 'unknown_customer',
         'clean': 'int_survey_answers_attributed', 'clean_filter': 'not is_unknown_customer'},
        {'source': 'partner_enrichment', 'keep': 'earliest', 'staging': 'stg_partners__partner_enrichment',
         'key': ['customer_number', 'attribute', 'provider', 'fetched_at'], 'dedupe_key': ['enrichment_id'],
         'field_issues': [],
         'deduplicated': 'int_partner_attributes_attributed', 'flag': 'is_unknown_customer', 'flag_reason': 'unknown_customer',
         'clean': 'int_partner_attributes_attributed', 'clean_filter': 'not is_unknown_customer'},
        {'source': 'consents', 'keep': 'earliest', 'staging': 'stg_privacy__consents', 'key': ['consent_event_id'],
         'field_issues': [],
         'deduplicated': 'int_consents_attributed', 'flag': 'is_unknown_customer', 'flag_reason': 'unknown_customer',
         'clean': 'int_consents_attributed', 'clean_filter': 'not is_unknown_customer'},
        {'source': 'erasure_requests', 'staging': 'stg_privacy__erasure_requests', 'key': ['request_id'],
         'field_issues': [],
         'deduplicated': none, 'flag': none,
         'clean': 'stg_privacy__erasure_requests', 'clean_filter': 'is_valid'},
    ]) }}
{% endmacro %}


{#
    The behavioural event types counted per session and per customer, with their column
    names (the plural). Browsing features count the first eight over the recent window.
#}
{#
    The valid staging rows of a registry entry with `keep`, each with its `receipt_rank` (1 for
    the receipt the deduplicated model keeps) and `is_same_as_kept` (its payload is the kept
    receipt's), and the kept receipt's payload (`kept_payload`). Counts and quarantines
    duplicates and conflicting copies from one definition.
#}
{% macro ranked_receipts(entry) -%}
    {%- set keys = (entry.get('dedupe_key') or entry.key) | join(', ') -%}
    {%- set direction = {'latest': 'desc', 'earliest': 'asc'}[entry.keep] -%}
    {%- set receipt_order -%}
        partition by {{ keys }}
        order by loaded_at {{ direction }}, source_file {{ direction }}, source_line {{ direction }}
    {%- endset -%}
    select
        ranked.*,
        coalesce(ranked.raw_payload, '') = coalesce(ranked.kept_payload, '') as is_same_as_kept
    from (
        select
            staged.*,
            row_number() over ({{ receipt_order }}) as receipt_rank,
            first_value(staged.raw_payload) over (
                {{ receipt_order }}
                rows between unbounded preceding and unbounded following
            ) as kept_payload
        from {{ ref(entry.staging) }} as staged
        where staged.is_valid
    ) as ranked
{%- endmacro %}


{% macro event_count_columns() %}
    {{ return({
        'page_view': 'page_views', 'product_view': 'product_views', 'search': 'searches',
        'video_play': 'video_plays', 'wishlist_add': 'wishlist_adds', 'add_to_cart': 'add_to_carts',
        'checkout': 'checkouts', 'purchase': 'purchases', 'scroll': 'scrolls', 'login': 'logins',
    }) }}
{% endmacro %}
