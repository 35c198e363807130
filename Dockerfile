# The companion captioner: the same main job as README's, with the model prepared
# at build time so that the container starts offline.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    COMPANION_CACHE_DIR=/opt/companion/cache \
    COMPANION_CONFIG=/app/config/event.toml

WORKDIR /app
COPY pyproject.toml README.md ./
COPY cli ./cli
COPY companion ./companion
COPY service ./service
COPY workers ./workers
COPY config ./config
RUN pip install . \
    && companion model prepare \
    && useradd --system --home /app companion \
    && mkdir -p /opt/companion/archive \
    && chown -R companion /opt/companion

USER companion
# Live sources come from the environment: COMPANION_SOURCE_KO, COMPANION_SOURCE_EN;
# REDIS_URL switches the bus to Redis.
EXPOSE 8080
ENTRYPOINT ["companion"]
CMD ["serve", "--host", "0.0.0.0"]
