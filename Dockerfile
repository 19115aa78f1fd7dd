# Image used by docker-compose.yaml: Airflow 3.3.2 + the ODBC drivers + the pinned requirements +
# this project (installed as the `streak-erp-sync` provider so its connection types show in the UI).
#
# The -python3.11 variant matches the interpreter requirements.txt was frozen on.
ARG AIRFLOW_VERSION=3.3.2
FROM apache/airflow:${AIRFLOW_VERSION}-python3.11
ARG AIRFLOW_VERSION

USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends unixodbc odbc-postgresql libsqliteodbc \
    && apt-get autoremove -yqq --purge \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

USER airflow
WORKDIR /opt/airflow/project

# Pinning apache-airflow next to requirements.txt makes a drift between the two fail the build
# instead of silently up- or downgrading the Airflow the image ships.
COPY --chown=airflow:0 requirements.txt ./
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" -r requirements.txt

# Editable install at the path compose mounts the live sources over, so the provider entry point
# and the mounted plugins/ are the same code.
COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 plugins ./plugins
COPY --chown=airflow:0 dags ./dags
COPY --chown=airflow:0 include ./include
COPY --chown=airflow:0 sandbox ./sandbox
RUN pip install --no-cache-dir --no-deps --no-build-isolation -e .
