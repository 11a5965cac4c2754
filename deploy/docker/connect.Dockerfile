# syntax=docker/dockerfile:1
# Kafka Connect with meterflow's S3 sink (deploy/connect/README.md): the
# plugin built from tools/connect as tools/s3-fetch builds it for the local
# stack (Maven, strict checksums, the same pom), on Apache Kafka's own image
# (the same Kafka as tools/kafka/pom.xml). Used by the compose stack's
# `connect` service; a Strimzi KafkaConnect can take the plugin directory
# the same way.
#
#   docker build -f deploy/docker/connect.Dockerfile -t meterflow/connect .
FROM maven:3.9-eclipse-temurin-17 AS plugin
WORKDIR /src
COPY tools/connect/ tools/connect/
RUN mvn -q -B --strict-checksums -f tools/connect/pom.xml -Dmf.build.dir=/build \
        package dependency:copy-dependencies -DincludeScope=runtime \
        -DoutputDirectory=/plugins/meterflow-s3-sink \
 && cp /build/meterflow-s3-sink-*.jar /plugins/meterflow-s3-sink/

FROM apache/kafka:3.9.1
COPY --from=plugin /plugins /opt/meterflow/connect-plugins
