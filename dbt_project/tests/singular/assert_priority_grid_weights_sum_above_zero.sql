{#
    The priority score divides by the sum of the weights: at least one weight must be above 0
    (a weight of 0 ignores its criterion). One row when they sum to 0.
#}

select coalesce(sum(weight), 0) as total_weight
from {{ ref('priority_grid_weights') }}
having coalesce(sum(weight), 0) <= 0
