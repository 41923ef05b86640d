#!/usr/bin/env bash
# Runs spillway as the candidate proxy of the comparison harness (a run.sh,
# kept outside this repository, that loads nginx, HAProxy, Caddy and one
# candidate in turn in front of the same origin; results in docs/measured/),
# with the same settings as the harness's nginx.conf (keepalive 64 to the
# origin, HTTP/1.1, Connection "", default proxy buffers, keepalive_requests
# 100000, access log on only when ACCESS_LOG=1). The harness passes
# CANDIDATE_DIR (and ACCESS_LOG_FILE). Usage, from the harness's directory:
#
#   (cd /path/to/spillway && go build -o /tmp/spillway ./cmd/spillway)
#   CANDIDATE_NAME=spillway CANDIDATE_PORT=18090 \
#   CANDIDATE_CMD='/path/to/spillway/bench/harness/candidate.sh /tmp/spillway' ./run.sh
#
# WRAP, when set, is a command put before spillway's (callgrind.sh runs it
# under valgrind this way).
set -euo pipefail
dir=${CANDIDATE_DIR:?run me from the harness}
mkdir -p "$dir"
if [ "${ACCESS_LOG:-0}" = 1 ]; then
  access="{path: ${ACCESS_LOG_FILE}, format: combined}"
else
  access=off
fi
cat > "$dir/proxy.yaml" <<YAML
error_log: {path: $dir/error.log, level: warn}
http:
  proxy_temp_path: $dir/proxy_temp
  client_body_temp_path: $dir/client_body_temp
  keepalive_timeout: 65s
  keepalive_requests: 100000
  upstreams:
    origin:
      keepalive: 64
      keepalive_requests: 100000
      keepalive_timeout: 60s
      servers: [{address: ${ORIGIN_ADDR}}]
  servers:
    - listen: ["${LISTEN_ADDR}"]
      server_name: [_]
      access_log: $access
      locations:
        - path: /
          proxy_pass: http://origin
          proxy_http_version: "1.1"
          proxy_set_header: {Host: \$proxy_host, Connection: ""}
          proxy_buffering: on
YAML
exec ${WRAP:-} "${1:-spillway}" serve -c "$dir/proxy.yaml"
