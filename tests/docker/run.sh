#!/usr/bin/env bash
# The course's Docker path, run for real: docker-compose.yml's broker, every exercise
# image, the apps talking to each other over kafka:19092, what outlives a container,
# and the three-broker cluster of advanced/kafka_cluster (profile "cluster").
#
#   bash tests/docker/run.sh        (as root, after bash setup.sh; CI runs it after pytest)
#
# 1. A Docker engine: Debian's docker.io, and dockerd started in the background if none
#    runs (stopped again at the end). A dockerd that dies at start on the network state
#    an unclean stop left (local-kv.db) gets that file moved aside and one more start.
# 2. Compose v2, built once from its Go module into ~/.docker/cli-plugins.
# 3. Stand-ins for the pinned base images. No container registry is reachable from CI,
#    so debian:bookworm-slim (debootstrap), python:3.11.14-slim-bookworm and
#    apache/kafka:4.3.1 are built here, under the official tags, from Debian's packages
#    and the Kafka jars setup.sh resolves (tests/docker/python, tests/docker/kafka).
#    A student's Docker pulls the real images. An image of that tag that is not a
#    stand-in (a real one) is used as it is.
# 4. The checks: one line each, "PASS name: detail" or "FAIL name: detail", then
#    "N passed, N failed"; exit 1 if any failed. Logs: infra/local/docker-test/.
#
# The compose broker needs localhost:9092. A course local broker there (bash
# infra/kafka.sh) is stopped for the run and started again at the end. Or give the
# compose broker another host port: KAFKA_HOST_PORT=29092 bash tests/docker/run.sh
# (the local broker is then left alone); KAFKA_CLUSTER_PORT_1..3 move the cluster's
# (19192-19194). It removes the course's compose containers and volumes (down -v) at
# its start and end: not for a machine where you keep work in them.
set -euo pipefail
# Nothing here reads a terminal: stdin from /dev/null. A command under `timeout` runs in
# a background process group, and one that touched the terminal (docker compose run
# does) would be stopped by SIGTTIN when this script runs in one.
exec < /dev/null
cd "$(dirname "$0")/../.."
# shellcheck source=infra/common.sh
source infra/common.sh

COMPOSE_VERSION=v2.29.7
PROJECT=streaming-ml-course
logs="$COURSE_LOCAL/docker-test"
[ "$(id -u)" -eq 0 ] || die "tests/docker/run.sh installs packages and runs dockerd. Fix: run it as root (sudo bash tests/docker/run.sh)"
[ -x "$COURSE_VENV/bin/python" ] || die "the course is not set up. Fix: bash setup.sh, then run this again"
rm -rf "$logs" && mkdir -p "$logs"
export KAFKA_HOST_PORT=${KAFKA_HOST_PORT:-9092}
export KAFKA_SERVER=localhost:$KAFKA_HOST_PORT
export KAFKA_CLUSTER_PORT_1=${KAFKA_CLUSTER_PORT_1:-19192} KAFKA_CLUSTER_PORT_2=${KAFKA_CLUSTER_PORT_2:-19193} \
  KAFKA_CLUSTER_PORT_3=${KAFKA_CLUSTER_PORT_3:-19194}
export SPARK_UI=off COMPOSE_PROGRESS=plain COMPOSE_ANSI=never BUILDKIT_PROGRESS=plain
run_start=$SECONDS

step() { echo "==> $* [$((SECONDS - run_start)) s]"; }
compose() { docker compose --profile apps --profile cluster "$@"; }

# --- what the run started is put back at the end, pass or fail ---------------------------
dockerd_pid="" local_broker_was_up=false
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$(docker compose version 2>/dev/null)" ] && docker info >/dev/null 2>&1; then
    compose down -v --remove-orphans >/dev/null 2>&1 || true
    # a one-off container (docker compose run) that a timeout or Ctrl-C left behind
    docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" | xargs -r docker rm -f >/dev/null 2>&1 || true
  fi
  if $local_broker_was_up; then
    say "starting the course's local broker again (bash infra/kafka.sh start)"
    KAFKA_SERVER=localhost:9092 bash infra/kafka.sh start >/dev/null 2>&1 || say "the local broker did not start again: bash infra/kafka.sh start"
  fi
  if [ -n "$dockerd_pid" ]; then
    say "stopping the dockerd this run started (pid $dockerd_pid)"
    kill "$dockerd_pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 1; done
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. the engine -------------------------------------------------------------------------
step "Docker engine (Debian's docker.io) and debootstrap"
missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  echo "apt-get install ${missing[*]}"
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" iptables; } \
    > "$logs/apt.log" 2>&1 || { tail -n 20 "$logs/apt.log"; die "apt-get install ${missing[*]} failed (log above)"; }
fi
start_dockerd() {  # start_dockerd LOG: dockerd in the background; 0 once it answers, 1 if it exits first
  setsid dockerd > "$1" 2>&1 < /dev/null &
  dockerd_pid=$!
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    kill -0 "$dockerd_pid" 2>/dev/null || { dockerd_pid=""; return 1; }
    sleep 1
  done
  docker info >/dev/null 2>&1
}
if ! docker info >/dev/null 2>&1; then
  command -v setsid >/dev/null || die "setsid not found (util-linux)"
  # After an unclean stop (a killed dockerd, a machine that went down), Debian's dockerd
  # can panic at start in libnetwork (reservePools) on the network state it kept in
  # local-kv.db (the networks and their address pools). Without it dockerd starts with
  # its default networks, and compose makes its own again. Moved aside, then one more start.
  kv=/var/lib/docker/network/files/local-kv.db dockerd_log="$logs/dockerd.log"
  if ! start_dockerd "$dockerd_log" && [ -z "$dockerd_pid" ] && [ -f "$kv" ] &&
     grep -q -E 'libnetwork|local-kv\.db|network controller' "$dockerd_log"; then
    stale="$kv.stale-$(date +%Y%m%d-%H%M%S)"
    mv "$kv" "$stale"
    echo "dockerd stopped at start on its stale network state (libnetwork, $kv): moved aside to $(basename "$stale"), starting dockerd once more"
    dockerd_log="$logs/dockerd-retry.log"
    start_dockerd "$dockerd_log" || true
  fi
  docker info >/dev/null 2>&1 || { tail -n 20 "$dockerd_log"; die "dockerd did not start (log above)"; }
  echo "dockerd started (pid $dockerd_pid)"
else
  echo "a Docker engine already runs: it stays up at the end"
fi

# --- 2. Compose v2 (in the background: it is a few minutes of compiling) -----------------------
plugin="$HOME/.docker/cli-plugins/docker-compose"
compose_job=""
if ! "$plugin" version 2>/dev/null | grep -q "$COMPOSE_VERSION"; then
  command -v go >/dev/null || die "Go is needed to build Compose. Fix: install Go 1.22 or newer"
  step "Compose $COMPOSE_VERSION: go install github.com/docker/compose/v2/cmd@$COMPOSE_VERSION (in the background)"
  (
    gobin=$(mktemp -d)
    GOBIN=$gobin GOFLAGS=-modcacherw go install \
      -ldflags "-X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
      "github.com/docker/compose/v2/cmd@$COMPOSE_VERSION" &&
      install -D -m 755 "$gobin/cmd" "$plugin" && rm -rf "$gobin"
  ) > "$logs/compose-build.log" 2>&1 &
  compose_job=$!
fi

# --- 3. the stand-in base images -----------------------------------------------------------
# An image built here carries the label course.stand-in=<hash of what it is built from>:
# built again only when that changes; an image of the tag without the label is a real
# one (pulled), used as it is.
stand_in_label() { docker image inspect -f '{{index .Config.Labels "course.stand-in"}}' "$1" 2>/dev/null || echo absent; }
need_stand_in() {  # need_stand_in TAG HASH: 0 when it must be built
  local have
  have=$(stand_in_label "$1")
  if [ "$have" = "$2" ]; then echo "$1: stand-in up to date"; return 1; fi
  if [ "$have" = "" ] || [ "$have" = "<no value>" ]; then echo "$1: a real image is here, used as it is"; return 1; fi
  return 0
}
debian_mirror() {  # the Debian mirror this machine's apt uses (deb822 or one-line sources)
  local m
  m=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n 1)
  [ -n "$m" ] || m=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\{0,1\}\([^[:space:]]*\)[[:space:]]\+bookworm[[:space:]].*/\2/p' /etc/apt/sources.list 2>/dev/null | head -n 1)
  [ -n "$m" ] || die "no Debian mirror found in /etc/apt (sources.list or sources.list.d/*.sources)"
  echo "$m"
}

step "Stand-in base images (no registry here; a student's Docker pulls the real ones)"
hash=$(echo "debootstrap minbase bookworm v1" | sha256sum | cut -c1-12)
if need_stand_in debian:bookworm-slim "$hash"; then
  root=$(mktemp -d)
  start=$SECONDS
  debootstrap --variant=minbase bookworm "$root" "$(debian_mirror)" > "$logs/debootstrap.log" 2>&1 ||
    { tail -n 20 "$logs/debootstrap.log"; die "debootstrap failed (log above)"; }
  # As the official slim image: no package cache, no package lists.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | docker import --change 'CMD ["bash"]' --change "LABEL course.stand-in=$hash" - debian:bookworm-slim >/dev/null
  rm -rf "$root"
  echo "debian:bookworm-slim: debootstrap --variant=minbase bookworm, $((SECONDS - start)) s"
fi
build_stand_in() {  # build_stand_in TAG DIR: DIR holds the Dockerfile and the files it copies
  local tag=$1 dir=$2 ctx start base_id name
  name=$(basename "$dir")
  ctx=$(mktemp -d)
  cp -r "$dir/." "$ctx/"
  case "$tag" in
    python:*)
      mkdir -p "$ctx/ca-certificates"
      cp /usr/local/share/ca-certificates/*.crt "$ctx/ca-certificates/" 2>/dev/null || true ;;
    apache/kafka:*)
      bash infra/fetch_jars.sh kafka >/dev/null
      cp -r "$COURSE_LOCAL/jars/kafka" "$ctx/jars" ;;
  esac
  # What it is built from: its files, and the base image it starts from.
  base_id=$(docker image inspect -f '{{.Id}}' debian:bookworm-slim)
  local want
  want=$( (cd "$ctx" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum; echo "$base_id") | sha256sum | cut -c1-12)
  if need_stand_in "$tag" "$want"; then
    start=$SECONDS
    DOCKER_BUILDKIT=0 docker build --label "course.stand-in=$want" -t "$tag" "$ctx" > "$logs/stand-in-${name}.log" 2>&1 ||
      { tail -n 20 "$logs/stand-in-${name}.log"; rm -rf "$ctx"; die "building the stand-in $tag failed (log above)"; }
    echo "$tag: built in $((SECONDS - start)) s"
  fi
  rm -rf "$ctx"
}
build_stand_in python:3.11.14-slim-bookworm tests/docker/python
build_stand_in apache/kafka:4.3.1 tests/docker/kafka

if [ -n "$compose_job" ]; then
  step "waiting for Compose's build"
  wait "$compose_job" || { tail -n 20 "$logs/compose-build.log"; die "building Compose failed (log above)"; }
fi
docker compose version

# --- 4. the checks ---------------------------------------------------------------------------
passed=0 failed=0
pass() { echo "PASS $1: $2"; passed=$((passed + 1)); }
fail() {
  echo "FAIL $1: $2"; failed=$((failed + 1))
  if [ -n "${3:-}" ] && [ -f "$3" ]; then tail -n 15 "$3" | sed 's/^/    | /'; fi
}
final_of() { grep '^FINAL ' "$1" | tail -n 1 | cut -d' ' -f2-; }   # the FINAL {json} of a log
holds() {  # holds LOG EXPR [WORD]: the log's last FINAL {json} (or WORD {json}), as d, makes the Python EXPR true
  "$COURSE_PYTHON" - "$1" "$2" "${3:-FINAL}" <<'PY'
import json, sys
word = sys.argv[3] + " "
lines = [line for line in open(sys.argv[1], errors="replace") if line.startswith(word)]
d = json.loads(lines[-1][len(word):]) if lines else None
sys.exit(0 if d is not None and eval(sys.argv[2], {}, {"d": d}) else 1)
PY
}
clean() {  # clean LOG: no Python traceback, no Java stack trace
  ! grep -q -E 'Traceback \(most recent call last\)|Python worker exited unexpectedly|^[[:space:]]+at [[:alnum:]_$.<>]+\(.*\)[[:space:]]*$' "$1"
}
crun() { timeout "${CRUN_TIMEOUT:-240}" docker compose run --rm -T "$@"; }   # one step in a container
topic() { echo "docker-$1-$RANDOM$RANDOM"; }

# The port the compose broker takes: a course local broker there is stopped for the run.
step "Checks"
compose down -v --remove-orphans >/dev/null 2>&1 || true
if port_in_use "$KAFKA_HOST_PORT"; then
  if [ "$KAFKA_HOST_PORT" = 9092 ] && local_broker_pid >/dev/null && [ "$(cat "$COURSE_LOCAL/kafka.port" 2>/dev/null)" = 9092 ]; then
    say "the course's local broker holds localhost:9092: stopping it for this run (bash infra/kafka.sh stop); it is started again at the end"
    bash infra/kafka.sh stop >/dev/null 2>&1
    local_broker_was_up=true
  else
    die "localhost:$KAFKA_HOST_PORT is taken, not by the course's local broker. Fix: free it, or choose another port: KAFKA_HOST_PORT=29092 bash tests/docker/run.sh"
  fi
fi
for port in "$KAFKA_CLUSTER_PORT_1" "$KAFKA_CLUSTER_PORT_2" "$KAFKA_CLUSTER_PORT_3"; do
  port_in_use "$port" && die "localhost:$port (the compose cluster's) is taken (bash infra/kafka.sh cluster stop?). Fix: free it, or KAFKA_CLUSTER_PORT_1..3=29192..29194 bash tests/docker/run.sh"
done

if compose config -q > "$logs/config.log" 2>&1; then pass compose-config "docker compose config accepts docker-compose.yml (profiles apps, cluster)"
else fail compose-config "docker compose config rejects docker-compose.yml" "$logs/config.log"; fi

# The broker, and the host's scripts through localhost
start=$SECONDS
if timeout 180 docker compose up -d --wait kafka > "$logs/kafka-up.log" 2>&1; then
  pass broker-healthy "docker compose up -d --wait kafka: healthy in $((SECONDS - start)) s"
else fail broker-healthy "the kafka service did not become healthy" "$logs/kafka-up.log"; fi

t=$(topic roundtrip)
bash day1/simple_producer/run.sh --topic "$t" --count 5 --interval 0 > "$logs/host-producer.log" 2>&1 || true
CONSUME_TOPICS=$t bash day1/simple_consumer/run.sh --group "$t" --max-messages 5 --seconds 60 > "$logs/host-consumer.log" 2>&1 || true
sent=$(final_of "$logs/host-producer.log") got=$(final_of "$logs/host-consumer.log")
if holds "$logs/host-producer.log" 'd["delivered"] == 5' && holds "$logs/host-consumer.log" 'd["messages"] == 5'; then
  pass host-roundtrip "day1 producer and consumer on the host, through $KAFKA_SERVER: 5 sent, 5 read"
else fail host-roundtrip "producer FINAL ${sent:-none}, consumer FINAL ${got:-none}" "$logs/host-consumer.log"; fi

# bash setup.sh, with an engine running and no broker: it must pick the Docker broker.
compose down -v >/dev/null 2>&1
start=$SECONDS
if broker_answers; then
  fail setup-picks-docker "a broker still answers on $KAFKA_SERVER after docker compose down: cannot tell"
elif ! bash setup.sh > "$logs/setup.log" 2>&1; then
  fail setup-picks-docker "bash setup.sh failed" "$logs/setup.log"
elif ! grep -q 'Docker engine found: docker compose up -d --wait kafka' "$logs/setup.log"; then
  fail setup-picks-docker "bash setup.sh did not choose the Docker broker" "$logs/setup.log"
elif { local_broker_pid >/dev/null && [ "$(cat "$COURSE_LOCAL/kafka.port")" = "$KAFKA_HOST_PORT" ]; } ||
     [ -z "$(docker compose ps -q --status running kafka)" ]; then
  fail setup-picks-docker "after bash setup.sh the broker is not the compose one" "$logs/setup.log"
else
  # The README's Day-1 commands, as written (bounded here: --count, --max-messages)
  producer_cmd=$(grep -m 1 '^bash day1/simple_producer/run.sh' README.md | sed 's/ *#.*//')
  consumer_cmd=$(grep -m 1 '^bash day1/simple_consumer/run.sh' README.md | sed 's/ *#.*//')
  eval "$producer_cmd --count 4" > "$logs/readme-producer.log" 2>&1 || true
  eval "$consumer_cmd --max-messages 4 --seconds 60" > "$logs/readme-consumer.log" 2>&1 || true
  # ... and the broker that holds their offsets is the container (the README's Docker column)
  docker compose exec -T kafka /opt/kafka/bin/kafka-consumer-groups.sh --bootstrap-server kafka:19092 \
    --describe --group Simple > "$logs/readme-groups.log" 2>&1 || true
  sent=$(final_of "$logs/readme-producer.log") got=$(final_of "$logs/readme-consumer.log")
  if holds "$logs/readme-producer.log" 'd["delivered"] == 4' && holds "$logs/readme-consumer.log" 'd["messages"] >= 4' &&
     grep -q -E '^Simple +test-topic +0 +[0-9]+ +[0-9]+ +0 ' "$logs/readme-groups.log"; then
    pass setup-picks-docker "bash setup.sh started the compose broker ($((SECONDS - start)) s); README's Day-1 producer and consumer ran against it; group Simple's offsets are in the container"
  else
    fail setup-picks-docker "README Day-1 commands: producer FINAL ${sent:-none}, consumer FINAL ${got:-none}" "$logs/readme-groups.log"
  fi
fi

# Builds: the Spark images' shared layers first, then every image of the apps profile.
step "Building the exercise images"
start=$SECONDS
if docker compose --profile apps build simple_sparkstream > "$logs/build-first.log" 2>&1; then
  first=$((SECONDS - start)) start=$SECONDS
  if compose build > "$logs/build.log" 2>&1 &&
     docker build -f advanced/kafka_cluster/Dockerfile -t "$PROJECT-kafka_cluster" . > "$logs/build-kafka_cluster.log" 2>&1; then
    pass apps-build "docker compose --profile apps build: every exercise image (simple_sparkstream first: $first s; the rest: $((SECONDS - start)) s; advanced/kafka_cluster included)"
  else fail apps-build "building the exercise images failed" "$logs/build.log"; fi
else fail apps-build "building simple_sparkstream failed" "$logs/build-first.log"; fi
echo "    image sizes:"
docker images --format '{{.Repository}} {{.Size}}' | grep "^$PROJECT-" | sort | sed 's/^/      /'
spark_images=()
for s in simple_sparkstream simple_structuredstreaming stateful_wordcount windowed_sum trendy_prices twitter_cluster; do
  spark_images+=("$PROJECT-$s")
done
if shared=$("$COURSE_PYTHON" tests/docker/layers.py "${spark_images[@]}" 2> "$logs/layers.log"); then
  pass spark-shared-layers "$shared"
else fail spark-shared-layers "$(tail -n 1 "$logs/layers.log")"; fi

# Containers talk to each other over kafka:19092.
step "Containers"
t=$(topic containers)
crun simple_producer bash day1/simple_producer/run.sh --topic "$t" --count 5 --interval 0 > "$logs/c-producer.log" 2>&1 || true
crun -e CONSUME_TOPICS="$t" simple_consumer bash day1/simple_consumer/run.sh --group "$t" --max-messages 5 --seconds 60 \
  > "$logs/c-consumer.log" 2>&1 || true
sent=$(final_of "$logs/c-producer.log") got=$(final_of "$logs/c-consumer.log")
if holds "$logs/c-producer.log" 'd["delivered"] == 5' && holds "$logs/c-consumer.log" 'd["messages"] == 5' &&
   grep -q "^$t/0/4: " "$logs/c-consumer.log"; then
  pass containers-talk "the consumer container read the producer container's 5 messages over kafka:19092"
else fail containers-talk "producer FINAL ${sent:-none}, consumer FINAL ${got:-none}" "$logs/c-consumer.log"; fi

spark_run() {  # spark_run NAME KEY MIN LOG: the container's FINAL has d[KEY] >= MIN, output clean
  local name=$1 key=$2 min=$3 log=$4 result
  result=$(final_of "$log")
  if [ -z "$result" ]; then fail "$name" "no FINAL line" "$log"
  elif ! clean "$log"; then fail "$name" "a stack trace in the output" "$log"
  elif ! holds "$log" "d.get('$key', 0) >= $min"; then fail "$name" "FINAL $result" "$log"
  else pass "$name" "bounded run in its container, clean output: FINAL $(echo "$result" | cut -c1-150)"; fi
}
# simple_sparkstream: DStream word counts of what a producer container sends once the
# job runs (a live stream: its bridge reads from the end of the topic)
t=$(topic sparkstream)
crun simple_sparkstream bash day1/simple_sparkstream/run.sh --topic "$t" --batch-seconds 5 --batches 2 --seconds 180 \
  > "$logs/simple_sparkstream.log" 2>&1 &
job=$!
for _ in $(seq 1 180); do grep -q '^Batch ' "$logs/simple_sparkstream.log" && break; sleep 1; done
crun simple_producer bash day1/simple_producer/run.sh --topic "$t" --count 40 --interval 0.25 > "$logs/sparkstream-feed.log" 2>&1 || true
wait "$job" || true
spark_run app-simple_sparkstream messages 1 "$logs/simple_sparkstream.log"
crun stateful_wordcount bash day2/stateful_wordcount/run.sh --batches 6 > "$logs/stateful_wordcount.log" 2>&1 || true
spark_run app-stateful_wordcount batches 6 "$logs/stateful_wordcount.log"
crun windowed_sum bash day2/windowed_sum/run.sh --count 8 > "$logs/windowed_sum.log" 2>&1 || true
spark_run app-windowed_sum batches 1 "$logs/windowed_sum.log"

# simple_structuredstreaming: two containers, one checkpoint (on its volume): the second
# run's counts include the first's, nothing counted twice.
t=$(topic structured)
"$COURSE_PYTHON" tests/docker/produce.py "$t" "to be or not to be" "that is the question" > /dev/null
crun simple_structuredstreaming bash day2/simple_structuredstreaming/run.sh --topic "$t" --max-messages 2 --seconds 120 \
  > "$logs/structured-1.log" 2>&1 || true
"$COURSE_PYTHON" tests/docker/produce.py "$t" "to be is to do" > /dev/null
crun simple_structuredstreaming bash day2/simple_structuredstreaming/run.sh --topic "$t" --max-messages 1 --seconds 120 \
  > "$logs/structured-2.log" 2>&1 || true
spark_run app-simple_structuredstreaming messages 2 "$logs/structured-1.log"
want='{"to": 4, "be": 3, "or": 1, "not": 1, "that": 1, "is": 2, "the": 1, "question": 1, "do": 1}'
got=$(final_of "$logs/structured-2.log")
if holds "$logs/structured-2.log" "d['words'] == $want and d['messages'] == 1" && clean "$logs/structured-2.log"; then
  pass checkpoint-survives "a new container resumed from the checkpoint volume; its 1 new message added to the first run's counts: $(echo "$got" | cut -c1-160)"
else fail checkpoint-survives "second run FINAL ${got:-none}, expected words $want from 1 new message" "$logs/structured-2.log"; fi

# twitter_cluster: train, then predict in another container, the model on a volume
t=$(topic tweets)
CRUN_TIMEOUT=420 crun twitter_cluster bash day2/twitter_cluster/run.sh train --runs 1 > "$logs/twitter-train.log" 2>&1 || true
crun twitter_producer bash day2/twitter_cluster/run.sh producer --topic "$t" --count 30 --interval 0 --held-out \
  > "$logs/twitter-producer.log" 2>&1 || true
crun twitter_cluster bash day2/twitter_cluster/run.sh predict --topic "$t" --trigger 0 --max-messages 30 --seconds 150 \
  > "$logs/twitter-predict.log" 2>&1 || true
if grep -q '^model saved to' "$logs/twitter-train.log" && clean "$logs/twitter-train.log"; then
  spark_run app-twitter_cluster shown 30 "$logs/twitter-predict.log"
  model=$(docker run --rm -v "${PROJECT}_twitter_output:/output" debian:bookworm-slim ls /output/model 2>&1 | tr '\n' ' ')
  if holds "$logs/twitter-predict.log" 'd["shown"] == 30' && [[ "$model" == *clusters.json* ]]; then
    pass model-outlives-container "train saved the model on the volume ${PROJECT}_twitter_output (${model% }); predict, in another container, labelled 30 tweets with it"
  else fail model-outlives-container "model on the volume: ${model:-none}; predict FINAL $(final_of "$logs/twitter-predict.log")" "$logs/twitter-predict.log"; fi
else
  fail app-twitter_cluster "train failed" "$logs/twitter-train.log"
  fail model-outlives-container "no model to predict with" "$logs/twitter-train.log"
fi

# trendy_prices: the producer, then the learner; its plot lands on the host
t=$(topic trendy)
out=day2/trendy_prices/output png=day2/trendy_prices/output/structured_weights.png
rm -f "$png"
# The container's user (uid 1000) writes into this folder of the clone. A student's
# clone belongs to the student (uid 1000 on most Linux machines; any user with Docker
# Desktop); CI's belongs to root: the folder is lent to uid 1000 for the check.
owner=$(stat -c %u "$out") group=$(stat -c %g "$out")
[ "$owner" = 1000 ] || { say "$out belongs to uid $owner: lent to uid 1000 (the image's user) for this check"; chown 1000 "$out"; }
crun trendy_prices bash day2/trendy_prices/run.sh --topic "$t" --count 40 --interval 0.05 --seed 3 --time-scale 20 \
  > "$logs/trendy-producer.log" 2>&1 || true
crun trendy_prices_learner bash day2/trendy_prices/run.sh structured --topic "$t" --starting-offsets earliest \
  --max-per-batch 4 --trigger 0 --max-messages 40 --seconds 150 > "$logs/trendy-learner.log" 2>&1 || true
spark_run app-trendy_prices messages 40 "$logs/trendy-learner.log"
if [ -s "$png" ] && [ "$(head -c 4 "$png" | tail -c 3)" = PNG ]; then
  pass png-on-host "trendy_prices_learner wrote $png on the host ($(stat -c %s "$png") bytes, owner uid $(stat -c %u "$png"))"
else fail png-on-host "no $png on the host" "$logs/trendy-learner.log"; fi
chown -R "$owner:$group" "$out"

# live_dashboard: the page served from its container on 127.0.0.1:5006, reading kafka:19092;
# its websocket refuses a page of another origin.
step "The live dashboard"
crun simple_producer bash day1/simple_producer/run.sh --count 3 --interval 0 > "$logs/dashboard-feed.log" 2>&1 || true
if timeout 180 docker compose --profile apps up -d live_dashboard > "$logs/dashboard-up.log" 2>&1; then
  page=$("$COURSE_PYTHON" - > "$logs/dashboard-page.log" 2>&1 <<'PY' && echo ok
import http.client, time, urllib.request
for _ in range(90):  # the container starts, checks the broker, then serves
    try:
        html = urllib.request.urlopen("http://127.0.0.1:5006/", timeout=5).read().decode()
        break
    except OSError:
        time.sleep(1)
else:
    raise SystemExit("no page on http://127.0.0.1:5006/ after 90 s")
assert "<title>Streaming ML: live dashboard</title>" in html, html[:500]
def upgrade(origin):
    c = http.client.HTTPConnection("127.0.0.1", 5006, timeout=10)
    c.request("GET", "/ws", headers={"Origin": origin, "Host": "localhost:5006", "Connection": "Upgrade",
              "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    return c.getresponse().status
assert upgrade("http://example.com") == 403  # a page of another site may not connect
print("page served; a websocket from another origin: 403")
PY
)
  for _ in $(seq 30); do  # its consumer group is assigned test-topic's partition, then says so
    docker compose --profile apps logs --no-log-prefix live_dashboard > "$logs/dashboard.log" 2>&1 || true
    grep -q '^reading test-topic/0' "$logs/dashboard.log" && break
    sleep 1
  done
  if [ "$page" = ok ] && grep -q '^reading test-topic/0' "$logs/dashboard.log" && clean "$logs/dashboard.log"; then
    pass app-live_dashboard "docker compose --profile apps up -d live_dashboard: the page on http://127.0.0.1:5006, reading kafka:19092; $(tail -n 1 "$logs/dashboard-page.log")"
  else fail app-live_dashboard "no page, or the container did not read test-topic" "$logs/dashboard-page.log"; fi
else fail app-live_dashboard "the live_dashboard service did not start" "$logs/dashboard-up.log"; fi
# (it keeps running: the port check below sees its published port)

# Safe: nobody is root in a container; ports only on 127.0.0.1
step "Users, ports, the cluster"
users=()
for s in kafka simple_producer simple_consumer simple_sparkstream simple_structuredstreaming stateful_wordcount \
         windowed_sum autodatascientist trendy_prices twitter_cluster live_dashboard; do
  if [ "$s" = kafka ]; then u=$(docker compose exec -T kafka id -un 2>/dev/null)
  else u=$(crun --no-deps "$s" id -un 2>/dev/null); fi
  users+=("$s=${u:-?}")
done
u=$(docker run --rm "$PROJECT-kafka_cluster" id -un 2>/dev/null || echo "?")
users+=("kafka_cluster=$u")
if ! printf '%s\n' "${users[@]}" | grep -q -E '=(root|\?)$'; then pass non-root "every container runs as a user: ${users[*]}"
else fail non-root "${users[*]}"; fi

# --- advanced/exactly_once and advanced/spark_cluster (profile "advanced") -----------------
# Each a scenario in one container, run as its README says (docker compose run --rm
# exactly_once): a Spark job or worker killed with kill -9, then RESULT {...}. Their
# PID 1 is docker-init (init: true), which reaps what the scenario kills.
step "The advanced scenarios in their containers: exactly_once, spark_cluster"
advanced_run() {  # advanced_run SERVICE SECONDS: its scenario, as its README runs it; the exit status
  local status=0
  CRUN_TIMEOUT=$2 crun "$1" > "$logs/$1.log" 2>&1 || status=$?
  docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$1" |
    xargs -r docker rm -f >/dev/null   # what a timeout left
  return "$status"
}
advanced_check() {  # advanced_check SERVICE STATUS EXPR PROBLEM DETAIL: RESULT makes EXPR true, no
  local log="$logs/$1.log" result  # PROBLEM found, the output clean and quiet
  result=$(grep '^RESULT ' "$log" | tail -n 1 | cut -c8-400)
  if [ "$2" != 0 ]; then fail "advanced-$1" "exit $2 (124: timed out); RESULT ${result:-none}" "$log"
  elif ! holds "$log" "$3" RESULT; then fail "advanced-$1" "RESULT ${result:-none}" "$log"
  elif [ -n "$4" ]; then fail "advanced-$1" "$4" "$log"
  elif ! clean "$log"; then fail "advanced-$1" "a stack trace in the output" "$log"
  elif grep -q -E '[[:alpha:]]+Warning: ' "$log"; then
    fail "advanced-$1" "a Python warning in the output: $(grep -m 1 -E '[[:alpha:]]+Warning: ' "$log" | cut -c1-200)"
  else pass "advanced-$1" "$5"; fi
}
advanced=(exactly_once spark_cluster)
start=$SECONDS
if docker compose --profile advanced build "${advanced[@]}" > "$logs/build-advanced.log" 2>&1; then
  pass advanced-build "docker compose --profile advanced build ${advanced[*]}: $((SECONDS - start)) s"
  if shared=$("$COURSE_PYTHON" tests/docker/layers.py "$PROJECT-simple_structuredstreaming" "${advanced[@]/#/$PROJECT-}" \
       2> "$logs/layers-advanced.log"); then pass advanced-shared-layers "$shared"
  else fail advanced-shared-layers "$(tail -n 1 "$logs/layers-advanced.log")"; fi
  for s in "${advanced[@]}"; do
    who=$(crun --no-deps "$s" bash -c 'echo "$(id -un), PID 1 $(ps -o comm= -p 1)"' 2>&1 | tail -n 1)
    if [[ "$who" =~ ^student,\ PID\ 1\ docker-init$ ]]; then pass "advanced-$s-user" "$s: $who"
    else fail "advanced-$s-user" "$s: ${who:-no answer}, expected student, PID 1 docker-init"; fi
  done
  # exactly_once: three acts, each a Spark job killed with kill -9 after its first write
  # and run again from its checkpoint; duplicates from the Kafka sink only
  start=$SECONDS status=0
  advanced_run exactly_once 900 || status=$?
  kills=$(grep -c -E '\] kill -9 python [0-9]+, java [0-9]+' "$logs/exactly_once.log" || true)
  problem=""; [ "$kills" = 3 ] || problem="$kills lines 'kill -9 python ..., java ...', expected 3"
  want='{"sent": 100, "naive_records": 150, "naive_duplicates": 50, "naive_missing": 0, "idempotent_records": 100, "idempotent_duplicates": 0, "idempotent_missing": 0, "transactional_records": 100, "transactional_duplicates": 0, "transactional_missing": 0, "transactional_in_log": 100}'
  advanced_check exactly_once "$status" "d == $want" "$problem" \
    "docker compose run --rm exactly_once, $((SECONDS - start)) s: 3 Spark jobs killed with kill -9 and run again from their checkpoints; RESULT: 150 records of 100 messages from the Kafka sink (50 duplicates), 100 of 100 from SQLite upserts and from Kafka transactions, none missing"
  # spark_cluster: a master and two workers in the container; worker 2 and its executor
  # killed mid-stream; the counts stay exact
  start=$SECONDS status=0
  advanced_run spark_cluster 900 || status=$?
  killed=$(grep -c 'killed with kill -9: a crash' "$logs/spark_cluster.log" || true)
  stopped=$(grep -c 'Spark cluster stopped' "$logs/spark_cluster.log" || true)
  problem=""; [ "$killed" = 1 ] && [ "$stopped" = 1 ] ||
    problem="$killed line(s) 'killed with kill -9', $stopped line(s) 'Spark cluster stopped', expected 1 and 1"
  advanced_check spark_cluster "$status" \
    "d['exact'] is True and d['workers_killed'] == 1 and d['counted'] == d['expected'] and len(d['counted']) == 15 and set(d['counted'].values()) == {75}" \
    "$problem" \
    "docker compose run --rm spark_cluster, $((SECONDS - start)) s: worker 2 and its executor killed with kill -9 mid-stream; RESULT exact: 300 messages, 15 words counted 75 times each; the cluster it started stopped at the end"
else
  fail advanced-build "docker compose --profile advanced build ${advanced[*]} failed" "$logs/build-advanced.log"
fi

# The three-broker cluster (profile "cluster"), a replicated topic across a broker's crash
start=$SECONDS
if timeout 240 docker compose --profile cluster up -d --wait broker-1 broker-2 broker-3 > "$logs/cluster-up.log" 2>&1; then
  pass cluster-healthy "docker compose --profile cluster up -d --wait broker-1 broker-2 broker-3: healthy in $((SECONDS - start)) s"
  docker compose exec -T broker-1 /opt/kafka/bin/kafka-metadata-quorum.sh --bootstrap-server broker-1:19092 \
    describe --status > "$logs/cluster-quorum.log" 2>&1 || true
  if grep -q -E 'CurrentVoters:.*"id": ?1.*"id": ?2.*"id": ?3' "$logs/cluster-quorum.log"; then
    pass cluster-quorum "kafka-metadata-quorum.sh describe --status: 3 voters, $(grep -m 1 LeaderId "$logs/cluster-quorum.log" | tr -s ' ')"
  else fail cluster-quorum "no quorum of 3 voters" "$logs/cluster-quorum.log"; fi
  if "$COURSE_PYTHON" tests/docker/cluster_failover.py > "$logs/cluster-failover.log" 2>&1; then
    pass cluster-failover "$(tail -n 1 "$logs/cluster-failover.log")"
  else fail cluster-failover "$(tail -n 1 "$logs/cluster-failover.log")" "$logs/cluster-failover.log"; fi
else
  fail cluster-healthy "the three brokers did not become healthy" "$logs/cluster-up.log"
fi

ports=$(docker ps -q --filter "label=com.docker.compose.project=$PROJECT" |
  xargs -r docker inspect -f '{{.Name}}{{range $p, $b := .NetworkSettings.Ports}}{{range $b}} {{$p}}={{.HostIp}}:{{.HostPort}}{{end}}{{end}}')
if [ -n "$ports" ] && ! echo "$ports" | tr ' ' '\n' | grep '=' | grep -v -q '=127\.0\.0\.1:'; then
  pass ports-localhost "every published port is bound to 127.0.0.1 (docker inspect):$(echo "$ports" | tr '\n' ' ' | sed 's#/streaming-ml-course-##g')"
else fail ports-localhost "${ports:-no published port found}"; fi

# docker compose down: nothing of the course left running
compose down > "$logs/down.log" 2>&1 || true
left=$(docker ps -a -q --filter "label=com.docker.compose.project=$PROJECT")
if [ -z "$left" ]; then pass down-clean "docker compose down: no container of the project left (the volumes stay, as a student's work should)"
else fail down-clean "left: $(echo "$left" | xargs docker inspect -f '{{.Name}}' | tr '\n' ' ')"; fi

echo "Docker path: $((SECONDS - run_start)) s in all"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
