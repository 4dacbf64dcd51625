# One image for every medic process: worker, gateway, migrations (`medic db upgrade`).
FROM python:3.11-slim
RUN useradd --create-home --uid 10001 medic
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY workflows workflows
COPY activities activities
COPY domain domain
COPY integrations integrations
COPY store store
COPY policies policies
COPY migrations migrations
COPY workers workers
COPY cli cli
COPY sandbox sandbox
RUN pip install --no-cache-dir . && rm -rf /root/.cache
USER medic
ENTRYPOINT ["medic"]
