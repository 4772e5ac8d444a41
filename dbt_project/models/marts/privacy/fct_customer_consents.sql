{#
    The one consent state Cible obeys: each customer's effective consent per purpose on the
    as-of date (int_customer_consents_as_of). Segmentation, scoring, lifetime value and the
    live path read `purpose = 'profiling'` here and leave out every customer not allowed
    (cible/privacy/consent.py); exports read the marketing purposes. Not rebuilt in training
    snapshots: a model is trained now, under today's consent.
#}

select * from {{ ref('int_customer_consents_as_of') }}
