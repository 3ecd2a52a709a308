# mockai serve in a container: any number of replicas behind a load balancer, sharing one state through Redis.
#
#   docker build -t mockai .
#   docker run --rm -p 8000:8000 mockai                                     # one replica, state in memory
#   docker run --rm -p 8000:8000 mockai --workers 4                         # four workers, a SQLite state inside
#   docker run --rm -p 8000:8000 mockai --state redis://redis:6379/0 --control-token "$TOKEN"   # a replica of many
#
# Arguments after the image name are `mockai serve` options. Bound to 0.0.0.0 the control API (/_mockai/) is off
# unless --control-token is given. deploy/kubernetes.yaml runs replicas of this image with Redis.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mockai ./mockai
COPY pytest_plugin ./pytest_plugin
COPY fixtures ./fixtures
# The redis extra: the client library that --state redis://… needs.
RUN pip install ".[redis]" && useradd --system --uid 10001 mockai
USER mockai
WORKDIR /home/mockai
EXPOSE 8000
ENTRYPOINT ["mockai", "serve", "--host", "0.0.0.0", "--port", "8000"]
CMD []
