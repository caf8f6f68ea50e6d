# The platform's own processes (API, hot path, bridge, workers) for docker-compose.yml.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY domain ./domain
COPY ml ./ml
COPY engine ./engine
COPY research ./research
COPY adapters ./adapters
COPY hotpath ./hotpath
COPY temporal ./temporal
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
COPY api ./api
COPY cli ./cli
COPY config ./config
COPY embedded ./embedded
RUN pip install --no-cache-dir -c constraints.txt .
ENV AITP_DATA_DIR=/data
VOLUME /data
