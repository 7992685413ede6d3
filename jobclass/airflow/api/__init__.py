"""The jobclass HTTP API, mounted in the Airflow API server at ``/jobclass`` by ``plugins/jobclass_api.py``.

Endpoints (all require an authenticated Airflow user, see :mod:`.auth`):

* ``POST /jobclass/predict``  ``{"title": ..., "body": ..., "top_k": 5}`` -> ranked O*NET codes
  from the current champion model;
* ``GET  /jobclass/models``   the model registry with metrics, newest first (``?limit=&offset=``);
* ``GET  /jobclass/runs``     nightly prediction runs, newest first (``?limit=&offset=``);
* ``GET  /jobclass/health``   liveness (also authenticated).

Modules: :mod:`.app` builds the app (lifespan, exception handlers); :mod:`.auth` authenticates with
Airflow; :mod:`.schemas` holds the request and response models; :mod:`.limits` the request size
limit and the bounded prediction and report slots; :mod:`.champion` the warm champion model;
:mod:`.state` what the routes share; :mod:`.routes` the endpoints; :mod:`.run_report` the run
report page and :mod:`.report_cache` the finished runs' reports it keeps; :mod:`.errors` error ids
and scrubbing.

Importing this package imports neither Airflow nor the model stack: every Airflow process loads
plugins, and only the API server should pay for them (at request time, or in the warm-up thread).
"""
