# The project's own services (simulator, job submission, alerts, dashboard) for docker compose.
# A JDK, not a JRE: `gmv setup` compiles the job's Java function (stream/job/java) with Maven.
FROM python:3.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml ./
COPY infra ./infra
COPY schemas ./schemas
COPY stream ./stream
COPY dashboard ./dashboard
ENV PIP_CONSTRAINT=/app/infra/build-constraints.txt GMV_HOME=/app/var
RUN pip install --no-cache-dir -e . && gmv setup
EXPOSE 8050
CMD ["gmv", "status"]
