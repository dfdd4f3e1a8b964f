#!/usr/bin/env bash
# Side-by-side benchmark of log agents: sonde (loki.source.file -> loki.write) and Promtail
# (a static scrape config with the cri stage) read the same pre-written container logs
# (loadgen logs: CRI format, kubelet layout) from a clean state and push everything to a
# counting Loki receiver (loadgen loki-sink) and to a real Loki. One agent at a time, each
# with a fresh receiver and its own positions. Then the cost of idle files for each agent.
#
# Usage: bench/compare-logs.sh   (from anywhere; `make bench` runs it after compare.sh)
# Settings (environment):
#   BENCH_LOG_FILES="1 100 1000"     file counts, one corpus each
#   BENCH_LOG_LINES=2000000          lines per corpus, spread over its files
#   BENCH_LOG_RECEIVERS="sink loki"  loadgen loki-sink, and/or a real Loki
#   BENCH_LOG_AGENTS="sonde promtail"
#   BENCH_LOG_IDLE_FILES=1000        idle files for the idle figure
#   BENCH_LOG_IDLE_SECONDS=60        measured idle window per agent (0 skips the idle figure)
#   BENCH_LOG_TIMEOUT=900            seconds one run may take to deliver everything
#   BENCH_LOG_PROFILE_SECONDS=0      >0: CPU profile of each sonde run (its first N seconds,
#                                    from /debug/pprof/profile) saved next to the results
#   BENCH_KEEP=1                     keep the temp dir (corpora, configs, logs, positions)
#   SONDE_BIN=./bin/sonde  PROMTAIL_BIN=<cache>/bin/promtail-$PROMTAIL_VERSION
#   LOKI_BIN=<cache>/bin/loki-$LOKI_VERSION  PROMTAIL_VERSION=v3.5.0  LOKI_VERSION=v3.7.8
#   SONDE_CACHE=$HOME/.cache/sonde
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

file_counts=${BENCH_LOG_FILES:-1 100 1000}
total_lines=${BENCH_LOG_LINES:-2000000}
receivers=${BENCH_LOG_RECEIVERS:-sink loki}
agents=${BENCH_LOG_AGENTS:-sonde promtail}
idle_files=${BENCH_LOG_IDLE_FILES:-1000}
idle_seconds=${BENCH_LOG_IDLE_SECONDS:-60}
run_timeout=${BENCH_LOG_TIMEOUT:-900}
profile_seconds=${BENCH_LOG_PROFILE_SECONDS:-0}
cache=${SONDE_CACHE:-$HOME/.cache/sonde}
promtail_version=${PROMTAIL_VERSION:-v3.5.0}
loki_version=${LOKI_VERSION:-v3.7.8}
sonde_bin=${SONDE_BIN:-./bin/sonde}
promtail_bin=${PROMTAIL_BIN:-$cache/bin/promtail-$promtail_version}
loki_bin=${LOKI_BIN:-$cache/bin/loki-$loki_version}

# Ports, apart from compare.sh's: receiver, agent HTTP (+1: Promtail's gRPC), Loki HTTP/gRPC.
sink_port=18990 agent_port=18900 loki_port=18100 loki_grpc_port=18101
# Batches, the same for both agents: bytes of lines per push (1 MiB), and the longest wait.
batch_bytes=1048576 batch_wait=1s

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_setup
build_loadgen
for bin in "$sonde_bin" "$promtail_bin" "$loki_bin"; do
	if [[ ! -x $bin ]]; then
		log "$bin not found (sonde: make build; Promtail and Loki: make bench-deps)"
		exit 1
	fi
done
sonde_version=$("$sonde_bin" version 2>/dev/null | awk '{print $2}')
stamp=$(date +%Y-%m-%d-%H%M%S)
mkdir -p bench/results
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# write_corpus DIR FILES LINES: writes the files and sets corpus_* from loadgen's summary.
write_corpus() {
	local dir=$1 files=$2 lines=$3 summary
	summary=$("$loadgen" logs --dir "$dir" --files "$files" --lines "$lines") || return 1
	corpus_lines=$(json_field lines <<<"$summary")
	corpus_bytes=$(json_field bytes <<<"$summary")
	corpus_first=$(json_field first_unix_nano <<<"$summary")
	corpus_last=$(json_field last_unix_nano <<<"$summary")
}

# start_receiver KIND DIR: a fresh loadgen loki-sink or Loki; sets $push_url and $receiver_url.
start_receiver() {
	local kind=$1 dir=$2
	case $kind in
	sink)
		receiver_url=http://127.0.0.1:$sink_port
		start "$dir/sink.log" "$loadgen" loki-sink --listen "127.0.0.1:$sink_port"
		wait_http "$receiver_url/stats" "$started" || return 1
		;;
	loki)
		receiver_url=http://127.0.0.1:$loki_port
		mkdir -p "$dir/loki"
		start "$dir/loki.log" env LOKI_DATA_DIR="$dir/loki" LOKI_HTTP_PORT=$loki_port LOKI_GRPC_PORT=$loki_grpc_port \
			"$loki_bin" -config.file=testdata/backends/loki.yaml -config.expand-env=true
		wait_http "$receiver_url/ready" "$started" 120 || return 1
		;;
	esac
	push_url=$receiver_url/loki/api/v1/push
}

# delivered KIND: lines the receiver has accepted so far.
delivered() {
	case $1 in
	sink) curl -sf "$receiver_url/stats" | json_field entries ;;
	# Counted by Loki's distributor when it accepts a push (before the ingester write);
	# loki_count checks the ingesters afterwards.
	loki) curl -sf "$receiver_url/metrics" | awk '/^loki_distributor_lines_received_total/ {n += $NF} END {printf "%d", n}' ;;
	esac
}

# loki_count: the number of entries Loki holds over the corpus' time range (LogQL).
loki_count() {
	local range=$(((corpus_last - corpus_first) / 1000000000 + 2))
	curl -sfG "$receiver_url/loki/api/v1/query" \
		--data-urlencode "query=sum(count_over_time({stream=~\"stdout|stderr\"}[${range}s]))" \
		--data-urlencode "time=$((corpus_last + 1000000000))" |
		grep -o '"value":\[[^]]*\]' | sed 's/.*,"\([0-9]*\)"\]$/\1/'
}

# agent_cmd NAME DIR CORPUS: writes the agent's config; sets the array $cmd and $version.
agent_cmd() {
	local name=$1 dir=$2 corpus=$3
	case $name in
	sonde)
		cat >"$dir/sonde.yaml" <<EOF
components:
  loki.source.file/pods:
    paths: ["$corpus/*/*/*.log"]
    path_labels: kubernetes
    format: cri
    batch_size: $((batch_bytes / 1024))KiB
    batch_wait: $batch_wait
    forward_to: [loki.write/bench]
  loki.write/bench:
    endpoints:
      - url: $push_url
        batch_size: $((batch_bytes / 1024))KiB
        batch_wait: $batch_wait
EOF
		cmd=("$sonde_bin" run --config "$dir/sonde.yaml" --storage.path "$dir/data"
			--server.listen "127.0.0.1:$agent_port" --log.level warn)
		version=$sonde_version
		;;
	promtail)
		# Positions synced every second, as sonde's sync_period default (Promtail's is 10 s).
		cat >"$dir/promtail.yaml" <<EOF
server:
  http_listen_address: 127.0.0.1
  http_listen_port: $agent_port
  grpc_listen_address: 127.0.0.1
  grpc_listen_port: $((agent_port + 1))
  log_level: warn
positions:
  filename: $dir/data/positions.yaml
  sync_period: 1s
clients:
  - url: $push_url
    batchsize: $batch_bytes
    batchwait: $batch_wait
scrape_configs:
  - job_name: pods
    pipeline_stages:
      - cri: {}
    static_configs:
      - targets: [localhost]
        labels:
          job: pods
          __path__: $corpus/*/*/*.log
EOF
		cmd=("$promtail_bin" -config.file "$dir/promtail.yaml")
		version=$promtail_version
		;;
	*)
		echo "compare-logs.sh: unknown agent $name" >&2
		return 1
		;;
	esac
}

rows=()
failures=0
declare -A per_core rss

# bench_run AGENT FILES RECEIVER CORPUS: one measured run; appends a table row to $rows.
# Called from an `if`, where bash ignores errexit: every step that can fail says `|| return 1`.
bench_run() {
	local name=$1 files=$2 kind=$3 corpus=$4
	local dir=$work/$name-$files-$kind
	mkdir -p "$dir/data" || return 1
	start_receiver "$kind" "$dir" || { log "$kind did not start"; tail -20 "$dir"/*.log >&2; return 1; }
	local cmd version
	agent_cmd "$name" "$dir" "$corpus" || return 1

	log "$name $version -> $kind: $corpus_lines lines in $files files"
	local t0 pid prof_pid=""
	t0=$(now)
	start "$dir/agent.log" "${cmd[@]}"
	pid=$started
	if [[ $name == sonde ]] && ((profile_seconds > 0)); then
		start "$dir/profile.log" curl -sf -o "bench/results/logs-$stamp-sonde-$files-$kind.pprof" \
			--retry 20 --retry-connrefused --retry-delay 0 \
			"http://127.0.0.1:$agent_port/debug/pprof/profile?seconds=$profile_seconds"
		prof_pid=$started
	fi

	local n=0 t1 deadline poll=0.2
	[[ $kind == loki ]] && poll=0.5
	deadline=$(calc "%.0f" "$t0 + $run_timeout")
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "$name exited during the run; its log:"
			tail -20 "$dir/agent.log" >&2
			return 1
		fi
		n=$(delivered "$kind") || n=0
		((${n:-0} >= corpus_lines)) && break
		if (($(date +%s) > deadline)); then
			log "$name: ${n:-0} of $corpus_lines lines after ${run_timeout}s"
			rows+=("| $files | $name | $kind | $corpus_lines | timeout | | | | | | ${n:-0} delivered |")
			return 0
		fi
		sleep "$poll"
	done
	t1=$(now)
	local cpu hwm_kb check stats
	cpu=$(cpu_seconds "$pid")
	hwm_kb=$(status_kb "$pid" VmHWM)
	if [[ $kind == sink ]]; then
		stats=$(curl -sf "$receiver_url/stats") || return 1
		t1=$(json_field last_arrival_unix <<<"$stats")
		local entries ooo streams
		entries=$(json_field entries <<<"$stats")
		ooo=$(json_field out_of_order <<<"$stats")
		streams=$(json_field streams <<<"$stats")
		check="$entries entries, $streams streams, $ooo out of order"
	else
		local count="" i
		# The ingesters hold what the distributor accepted once the pushes have returned.
		for ((i = 0; i < 30; i++)); do
			count=$(loki_count) && ((${count:-0} >= corpus_lines)) && break
			sleep 1
		done
		check="Loki holds ${count:-?} entries"
	fi
	if [[ -n $prof_pid ]]; then
		wait "$prof_pid" 2>/dev/null || log "profile of sonde not written (see $dir/profile.log)"
	fi
	stop "$pid"

	local wall lps cps mbps
	wall=$(calc "%.1f" "$t1 - $t0")
	lps=$(calc "%.0f" "$corpus_lines / ($t1 - $t0)")
	if [[ $(calc "%.2f" "$cpu") == 0.00 ]]; then
		cps="n/a" mbps="n/a"
	else
		cps=$(calc "%.0f" "$corpus_lines / $cpu")
		mbps=$(calc "%.1f" "$corpus_bytes / 1e6 / $cpu")
	fi
	per_core[$files,$kind,$name]=$cps
	rss[$files,$kind,$name]=$hwm_kb
	rows+=("| $files | $name | $kind | $corpus_lines | $wall | $lps | $cpu | $cps | $mbps | $(calc "%.1f" "$hwm_kb / 1024") | $check |")
	log "$name -> $kind: ${wall}s, $cpu CPU-s, $cps lines per CPU-s, peak RSS $(calc "%.1f" "$hwm_kb / 1024") MiB; $check"
}

corpus_info=()
for files in $file_counts; do
	corpus=$work/pods-$files
	log "writing $total_lines lines into $files files"
	write_corpus "$corpus" "$files" "$total_lines" || exit 1
	corpus_info+=("$files file(s): $corpus_lines lines, $(calc "%.1f" "$corpus_bytes / 1048576") MiB")
	for kind in $receivers; do
		for agent in $agents; do
			if ! bench_run "$agent" "$files" "$kind" "$corpus"; then
				rows+=("| $files | $agent | $kind | | failed | | | | | | |")
				failures=$((failures + 1))
			fi
			stop_run
		done
	done
	rm -rf "$corpus"
done

# bench_idle AGENT: CPU cores used while idle_files files exist and nobody writes to them.
idle_rows=()
declare -A idle_cores
bench_idle() {
	local name=$1
	local corpus=$work/idle-pods dir=$work/$name-idle
	mkdir -p "$dir/data" || return 1
	start_receiver sink "$dir" || return 1
	local cmd version
	agent_cmd "$name" "$dir" "$corpus" || return 1
	log "$name idle: $idle_files files, ${idle_seconds}s"
	start "$dir/agent.log" "${cmd[@]}"
	local pid=$started i n=0
	# First everything already in the files is delivered, then a few seconds to settle.
	for ((i = 0; i < 1200; i++)); do
		kill -0 "$pid" 2>/dev/null || { tail -20 "$dir/agent.log" >&2; return 1; }
		n=$(delivered sink) || n=0
		((${n:-0} >= corpus_lines)) && break
		sleep 0.5
	done
	((${n:-0} >= corpus_lines)) || { log "$name idle: only $n of $corpus_lines lines delivered"; return 1; }
	sleep 5
	local t1 c1 t2 c2
	t1=$(now) c1=$(cpu_seconds "$pid")
	sleep "$idle_seconds"
	kill -0 "$pid" 2>/dev/null || return 1
	t2=$(now) c2=$(cpu_seconds "$pid")
	local cores rss_kb
	cores=$(calc "%.4f" "($c2 - $c1) / ($t2 - $t1)")
	rss_kb=$(status_kb "$pid" VmRSS)
	idle_cores[$name]=$cores
	idle_rows+=("| $name | $idle_files | $(calc "%.0f" "$t2 - $t1") | $(calc "%.2f" "$c2 - $c1") | $cores | $(calc "%.1f" "$rss_kb / 1024") |")
	log "$name idle: $cores cores"
}

if ((idle_seconds > 0)); then
	write_corpus "$work/idle-pods" "$idle_files" $((idle_files * 10)) || exit 1
	for agent in $agents; do
		if ! bench_idle "$agent"; then
			idle_rows+=("| $agent | $idle_files | failed | | | |")
			failures=$((failures + 1))
		fi
		stop_run
	done
fi

# verdict: the issue's targets, where both agents ran.
verdicts=()
for files in $file_counts; do
	for kind in $receivers; do
		s=${per_core[$files,$kind,sonde]:-} p=${per_core[$files,$kind,promtail]:-}
		[[ -n $s && -n $p && $s != n/a && $p != n/a ]] || continue
		ratio=$(calc "%.2f" "$s / $p")
		met=$(calc "%s" "($ratio >= 2) ? \"met\" : \"missed\"")
		rs=${rss[$files,$kind,sonde]} rp=${rss[$files,$kind,promtail]}
		rmet=$( ((rs <= rp)) && echo met || echo missed)
		verdicts+=("| $files | $kind | ${ratio}x ($met) | $(calc "%.1f" "$rs / 1024") vs $(calc "%.1f" "$rp / 1024") MiB ($rmet) |")
	done
done
idle_verdict=""
if [[ -n ${idle_cores[sonde]:-} ]]; then
	idle_verdict="Idle target (sonde, $idle_files files, < 0.02 cores): ${idle_cores[sonde]} cores, $(calc "%s" "(${idle_cores[sonde]} < 0.02) ? \"met\" : \"missed\"")."
fi

out=bench/results/logs-$stamp.md
{
	echo "## Log agents, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $(machine). Load average (1, 5, 15 min) at start: $load_start; at end: $(cut -d' ' -f1-3 /proc/loadavg)."
	printf 'Corpora (CRI, kubelet layout, written before the runs on them): '
	printf '%s; ' "${corpus_info[@]}"
	echo
	echo "Batches: $batch_bytes bytes / $batch_wait for both agents. sonde $sonde_version (loki.source.file format cri, path_labels kubernetes -> loki.write);"
	echo "Promtail $promtail_version (static_configs, cri stage). Loki $loki_version (testdata/backends/loki.yaml)."
	echo
	echo "| files | agent | receiver | lines | wall s | lines/s | CPU s | lines per CPU-s | MB/s per core | peak RSS MiB | check |"
	echo "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	printf '%s\n' "${rows[@]}"
	if ((${#verdicts[@]} > 0)); then
		echo
		echo "| files | receiver | throughput per core, sonde / Promtail (target >= 2x) | peak RSS sonde vs Promtail (target <=) |"
		echo "| ---: | --- | --- | --- |"
		printf '%s\n' "${verdicts[@]}"
	fi
	if ((${#idle_rows[@]} > 0)); then
		echo
		echo "| agent (idle) | files | seconds | CPU s | cores | RSS MiB |"
		echo "| --- | ---: | ---: | ---: | ---: | ---: |"
		printf '%s\n' "${idle_rows[@]}"
		[[ -n $idle_verdict ]] && echo && echo "$idle_verdict"
	fi
} | tee "$out"
log "written to $out"
exit $((failures > 0))
