# One image for every process of Sổ tay Đảng viên. The container's command picks the
# process (k8s/base, docker-compose.yml): `python -m services.<name> serve|migrate|relay|<worker>`,
# a one-shot command (`python -m services.documents reindex`), or gunicorn for the gateway.

FROM python:3.11-slim-trixie AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml ./
COPY protos/gen/python protos/gen/python
COPY services services
COPY gateway gateway
RUN /opt/venv/bin/pip install . && /opt/venv/bin/pip check
# The web pages' message catalogues, compiled inside the installed package.
RUN /opt/venv/bin/pybabel compile -D messages \
      -d "$(/opt/venv/bin/python -c 'import gateway.web.i18n as m; print(m.TRANSLATIONS)')"

FROM python:3.11-slim-trixie
LABEL org.opencontainers.image.title="sotay" \
      org.opencontainers.image.description="Sổ tay Đảng viên: gRPC services, workers and HTTP gateway"
# tini: PID 1 that forwards signals and reaps children (the OCR worker runs tesseract, and
# pdftoppm from poppler-utils to render the pages of scanned PDFs); postgresql-client: pg_dump and
# pg_restore for `sotay backup` / `sotay restore` (docs/operations.md). Debian 13's is PostgreSQL
# 17's, the server docker-compose.yml runs: pg_dump refuses a server newer than itself.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini tesseract-ocr tesseract-ocr-vie poppler-utils \
       postgresql-client \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 sotay \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin sotay \
    && install -d -o 10001 -g 10001 -m 0750 /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SOTAY_DATA_DIR=/data \
    GRPC_HOST=0.0.0.0 \
    GATEWAY_BIND=0.0.0.0:8080 \
    METRICS_PORT=9100
# Code runs from the installed package; the working directory is empty and root-owned.
WORKDIR /app
USER 10001:10001
EXPOSE 8080 50051 50052 50053 50054 9100
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["sotay", "--help"]
