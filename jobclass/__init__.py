"""jobclass: code job postings to O*NET-SOC 2019 occupations.

The library knows nothing of Airflow: the DAGs in ``dags/`` call it.
"""

__version__ = "0.1.0"
