# Callwright call service. Build: docker build -t callwright .
# Run:  docker run --network host -v /srv/callwright:/srv/callwright \
#         -e CALLWRIGHT_CONFIG=/srv/callwright/callwright.toml callwright
# (--network host: Asterisk sends RTP to the address Callwright advertises.)
FROM debian:bookworm-slim

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv python3-dev build-essential espeak-ng sox ffmpeg make ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/callwright
COPY requirements.txt requirements-dev.txt pyproject.toml Makefile README.md ./
COPY callwright ./callwright
COPY cli ./cli
COPY ari_app ./ari_app
COPY admin ./admin
COPY agi ./agi
COPY voice_models ./voice_models
RUN python3 -m venv .venv \
 && .venv/bin/pip install --no-cache-dir -r requirements.txt \
 && .venv/bin/pip install --no-cache-dir --no-deps silero-vad==6.2.3 \
 && .venv/bin/pip install --no-cache-dir --no-deps .

RUN useradd --system --home /srv/callwright callwright && mkdir -p /srv/callwright \
 && chown callwright /srv/callwright
USER callwright
WORKDIR /srv/callwright
ENV CALLWRIGHT_SERVER_DATA_DIR=/srv/callwright
EXPOSE 8080
CMD ["/opt/callwright/.venv/bin/callwright", "serve"]
