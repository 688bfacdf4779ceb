# The app image: one Python process (aiohttp on uvloop); Caddy, coturn, PostgreSQL and Redis run beside it.
FROM python:3.11-slim

# No .pyc files in a read-only image, logs straight to stdout, pip without cache or version nags.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    DATA_DIR=/data

WORKDIR /app

# Dependencies first, so code changes do not reinstall them (every pin has a manylinux wheel: no compiler).
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# pg_dump and pg_restore for `python -m server backup` and `restore` on PostgreSQL (Debian's 15, as the database).
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client \
 && rm -rf /var/lib/apt/lists/*

# An unprivileged user owns only /data (SQLite, uploads); the code stays root-owned and read-only to it.
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin app \
 && mkdir -p /data /backups \
 && chown app:app /data /backups
COPY . .

USER app
VOLUME ["/data"]
EXPOSE 8080

# Healthy when /healthz answers 2xx (urlopen raises on anything else); the standard library only.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4)"]

# Exec form: python gets SIGTERM directly and shuts down cleanly (run.py handles it).
CMD ["python", "run.py"]
