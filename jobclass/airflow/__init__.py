"""The one place in jobclass that imports Airflow: the DAGs' glue and the plugin's app."""
