# SPDX-License-Identifier: MIT
# Builds the funneld image: a Debian 12 build stage compiles funneld, funnel-web, funnelctl and
# funnel-gen; the runtime stage holds only them, their shared libraries and the configs, run as a
# non-root user. One image, several programs: the compose file picks one per service (entrypoint).
#
#   docker build -t funneld:local .                                  # RelWithDebInfo, stripped
#   docker build --build-arg RUN_UNIT_TESTS=1 -t funneld:local .     # also run `ctest -L unit`
#   docker build --build-arg BUILD_TYPE=Release -t funneld:local .   # -O3

# ---- build stage ------------------------------------------------------------------------------
FROM debian:12 AS build

# python3 and libcmocka-dev: CMakeLists.txt always configures tests/ (which needs both), even when
# only the programs are built. redis-server only serves RUN_UNIT_TESTS=1 (fixtures start their own).
# libmicrohttpd-dev: funneld's operator endpoints and funnel-web; libjs-chart.js: Chart.js, which
# the build embeds into funnel-web (nothing of it is needed at run time).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config python3 \
        librdkafka-dev libcjson-dev libhiredis-dev libmicrohttpd-dev libcmocka-dev \
        libjs-chart.js redis-server tzdata \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .

# RelWithDebInfo (-O2, asserts off) is the build type scripts/test and CI test; the debug
# information is stripped from the copies that go into the runtime image.
ARG BUILD_TYPE=RelWithDebInfo
ARG RUN_UNIT_TESTS=0
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE="$BUILD_TYPE" \
 && cmake --build /build -j"$(nproc)" --target funneld funnel-web funnelctl funnel-gen \
 && if [ "$RUN_UNIT_TESTS" = "1" ]; then \
        cmake --build /build -j"$(nproc)" && (cd /build && ctest -L unit --output-on-failure); \
    fi \
 && mkdir /out && cp /build/funneld /build/funnel-web /build/funnelctl /build/funnel-gen /out/ \
 && strip --strip-debug /out/*

# ---- runtime stage ----------------------------------------------------------------------------
FROM debian:12-slim

# Exactly the shared libraries the programs link (librdkafka brings its own TLS, SASL and
# compression libraries, libmicrohttpd12 its GnuTLS); tzdata for funnel.timezone, ca-certificates
# for Kafka over TLS.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        librdkafka1 libcjson1 libhiredis0.14 libmicrohttpd12 tzdata ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A fixed uid/gid so that files mounted from the host (configs, secrets) can be granted to it.
RUN groupadd --system --gid 10001 funneld \
 && useradd --system --uid 10001 --gid funneld --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin funneld

COPY --from=build /out/funneld /out/funnel-web /out/funnelctl /out/funnel-gen /usr/local/bin/
COPY configs/ /etc/funneld/

# funneld keeps no local state (offsets, counters and deal states are in Redis); it serves only
# its operator endpoints (http.listen: /livez /readyz /metrics, docs/http.md), funnel-web the
# dashboard and the API (web.listen). There is no HEALTHCHECK here, on purpose: the image runs
# several programs (funneld, funnel-web, funnel-gen, funnelctl) and only the deployment knows which
# one and on which port, so docker-compose.yml declares one per service. A Redis or Kafka that is
# away is retried in place, and every error funneld cannot handle ends the process (exit 1, or 2
# for a bad configuration), which the restart policy sees. Whether it keeps up is lag, watched
# from outside (docs/deployment.md, "What to monitor", or funneld_partition_lag on /metrics).
USER funneld:funneld
ENTRYPOINT ["funneld"]
CMD ["--config", "/etc/funneld/funneld.json"]
