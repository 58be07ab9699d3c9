# Airflow image of banking-cdc for `astro dev start` and Astro deploys.
#
# Astro Runtime 3.3-8 is Apache Airflow 3.3.2 (the version the project pins). Runtime 3.x
# images are named `<registry>/runtime:<airflow major.minor>-<runtime patch>`; the
# `-python-3.12` suffix selects the Python 3.12 build of the same release. Runtime 3.3's
# default Python is 3.14, where dbt-core 1.11 does not import (it pins mashumaro < 3.15, which
# cannot handle 3.14's lazy annotations; dbt-core 1.11 declares Python 3.10-3.13). The native
# environment runs 3.11; 3.12 is the closest Runtime 3.3 build we found published.
#
# The base image's ONBUILD steps run first, in this order: copy packages.txt and install it
# with apt (as root), copy requirements.txt and install it, then `COPY . .` the project into
# /usr/local/airflow as user astro. So requirements.txt cannot refer to local paths, and
# every step below already sees the whole project (minus .dockerignore). packages.txt is
# empty on purpose: no Debian package is needed (the PostgreSQL driver wheels bundle libpq),
# and an empty file installs nothing (comment lines are not documented as supported there).
FROM astrocrpublic.azurecr.io/runtime:3.3-8-python-3.12

# Cosmos sends usage telemetry by default; this pipeline never phones home.
ENV AIRFLOW__COSMOS__ENABLE_TELEMETRY=False

# Installing into the image's Python environment needs root; the last step returns to astro.
USER root

# dbt in the Airflow environment (Cosmos ExecutionMode.LOCAL + InvocationMode.DBT_RUNNER): measured
# against a separate dbt virtualenv, it costs the same under a scheduler (within 4%) and is 3x faster
# under `airflow dags test`, with one environment to keep in step (docs/BENCHMARKS.md, "dbt execution").
# dbt-core stays below 1.12, whose parser dependency cannot be built from the package registry alone.
RUN pip install --no-cache-dir \
        "dbt-core>=1.11,<1.12" \
        "dbt-duckdb==1.11.1" \
        "dbt-snowflake==1.12.4"

# The project's Airflow provider (distribution banking-cdc-provider, include/pyproject.toml),
# copied in by the ONBUILD `COPY . .`. Non-editable, so it lives in site-packages and is
# unaffected by `astro dev start` mounting include/ over /usr/local/airflow/include. Its
# dependencies are already installed from requirements.txt, hence --no-deps.
RUN pip install --no-cache-dir --no-deps /usr/local/airflow/include

USER astro
