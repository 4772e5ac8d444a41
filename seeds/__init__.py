"""Reference data loaded by ``dbt seed`` and the demo-data generator (``seeds.demo_data``)."""
