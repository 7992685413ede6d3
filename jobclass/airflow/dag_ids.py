"""The jobclass DAG ids, declared once: the DAG files, the plugin's pages and its permission check use them."""

NIGHTLY_DAG_ID = "jobclass_nightly_classify"
RETRAIN_DAG_ID = "jobclass_weekly_retrain"
