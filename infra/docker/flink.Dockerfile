# Flink JobManager/TaskManager able to run the PyFlink job: the official image plus Python,
# PyFlink of the same version and the Kafka SQL connector.
FROM flink:2.0.2-scala_2.12-java17
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip python3-venv \
    && rm -rf /var/lib/apt/lists/* && ln -sf /usr/bin/python3 /usr/bin/python
COPY infra/build-constraints.txt /tmp/build-constraints.txt
RUN PIP_CONSTRAINT=/tmp/build-constraints.txt pip3 install --no-cache-dir --break-system-packages apache-flink==2.0.2
RUN wget -q -P /opt/flink/lib \
    https://repo.maven.apache.org/maven2/org/apache/flink/flink-sql-connector-kafka/4.0.1-2.0/flink-sql-connector-kafka-4.0.1-2.0.jar
