# Sourced by the benchmark scripts: start_registry DIR starts Debian's docker-registry on a free
# loopback port with its storage in DIR/registry and its access log in DIR/access.log, waits for
# it to listen, and sets `reg` (127.0.0.1:PORT) and `registry_pid` (the caller kills it).
start_registry() {
  local dir=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$dir/registry.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/registry
http:
  addr: 127.0.0.1:$port
YML
  docker-registry serve "$dir/registry.yml" >"$dir/access.log" 2>"$dir/registry.err" &
  registry_pid=$!
  for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  reg=127.0.0.1:$port
}
