#!/usr/bin/env bash
# Side-by-side benchmark of metrics agents: sonde, Prometheus in agent mode and vmagent each
# scrape the same synthetic targets (loadgen targets) and remote-write to the same counting
# receiver (loadgen sink). One agent at a time, each with a fresh sink, fresh targets, its own
# ports and its own data directory. Then an idle figure for sonde alone.
#
# Usage: bench/compare.sh   (from anywhere; `make bench` runs it after building bin/sonde)
# Settings (environment):
#   BENCH_DURATION=120        seconds each agent runs (warm-up + measured window)
#   BENCH_WARMUP=2*interval   seconds before the measured window starts
#   BENCH_TARGETS=100         targets (one port each)
#   BENCH_SERIES=1000         series per target; active series = targets x series
#   BENCH_INTERVAL=10         scrape interval, seconds
#   BENCH_TIMEOUT=interval    scrape timeout, seconds
#   BENCH_CHURN=0             fraction of every target's series replaced every BENCH_CHURN_EVERY (0.01: 1%)
#   BENCH_CHURN_EVERY=10m     churn period (a Go duration)
#   BENCH_SHARDS=2            remote-write senders (sonde shards, Prometheus min=max shards, vmagent queues)
#   BENCH_CAPACITY=10000      samples buffered per shard (sonde, Prometheus)
#   BENCH_MAX_SAMPLES_PER_SEND=2000   samples per request (vmagent: -remoteWrite.maxRowsPerBlock)
#   BENCH_BATCH_DEADLINE=5    seconds a partial batch waits (vmagent: -remoteWrite.flushInterval)
#   BENCH_IDLE_SECONDS=60     how long sonde runs idle before its RSS is read (0 skips it)
#   BENCH_AGENTS="sonde prometheus vmagent"
#   BENCH_ROUNDS=1            rounds of every agent, the order reversed every other round; with
#                             more than one, the median (min-max) of each figure and of the
#                             per-round ratios to vmagent close the table (this VM's CPU speed
#                             drifts by 10-15% between runs: one pair of runs decides nothing)
#   BENCH_KEEP=1              keep the temp dir (configs, logs, data) for inspection
#   SONDE_BIN=./bin/sonde  PROMETHEUS_BIN=prometheus  VMAGENT_BIN=<cache>/bin/vmagent-$VMAGENT_VERSION
#   VMAGENT_VERSION=v1.129.1  SONDE_CACHE=$HOME/.cache/sonde
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

duration=${BENCH_DURATION:-120}
interval=${BENCH_INTERVAL:-10}
warmup=${BENCH_WARMUP:-$((2 * interval))}
timeout=${BENCH_TIMEOUT:-$interval}
targets=${BENCH_TARGETS:-100}
series=${BENCH_SERIES:-1000}
shards=${BENCH_SHARDS:-2}
churn=${BENCH_CHURN:-0}
churn_every=${BENCH_CHURN_EVERY:-10m}
capacity=${BENCH_CAPACITY:-10000}
max_per_send=${BENCH_MAX_SAMPLES_PER_SEND:-2000}
deadline=${BENCH_BATCH_DEADLINE:-5}
idle_seconds=${BENCH_IDLE_SECONDS:-60}
agents=${BENCH_AGENTS:-sonde prometheus vmagent}
rounds=${BENCH_ROUNDS:-1}
cache=${SONDE_CACHE:-$HOME/.cache/sonde}
vmagent_version=${VMAGENT_VERSION:-v1.129.1}
sonde_bin=${SONDE_BIN:-./bin/sonde}
prometheus_bin=${PROMETHEUS_BIN:-prometheus}
vmagent_bin=${VMAGENT_BIN:-$cache/bin/vmagent-$vmagent_version}

# The measured window is a whole number of scrape intervals, so every target is scraped the
# same number of times inside it whatever its phase.
window=$(((duration - warmup) / interval * interval))
if ((window < interval)); then
	echo "compare.sh: BENCH_DURATION ($duration) must exceed BENCH_WARMUP ($warmup) by at least one interval ($interval)" >&2
	exit 2
fi
if ((timeout > interval)); then
	echo "compare.sh: BENCH_TIMEOUT ($timeout) must not exceed BENCH_INTERVAL ($interval)" >&2
	exit 2
fi
active=$((targets * series))

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_setup
machine=$(machine)
build_loadgen

rows=()
failures=0

# target_list: the loadgen addresses of one run, as a YAML flow sequence.
target_list() {
	local base=$1 i sep=""
	printf '['
	for ((i = 0; i < targets; i++)); do
		printf '%s"127.0.0.1:%d"' "$sep" $((base + i))
		sep=", "
	done
	printf ']'
}

write_configs() {
	local dir=$1 sink_url=$2 list=$3
	cat >"$dir/sonde.yaml" <<EOF
components:
  prometheus.scrape/load:
    job_name: loadgen
    static_configs:
      - targets: $list
    scrape_interval: ${interval}s
    scrape_timeout: ${timeout}s
    forward_to: [prometheus.remote_write/sink]
  prometheus.remote_write/sink:
    endpoint:
      url: $sink_url
      queue:
        shards: $shards
        min_shards: $shards
        max_shards: $shards
        capacity: $capacity
        max_samples_per_send: $max_per_send
        batch_send_deadline: ${deadline}s
      metadata_config:
        send: false
EOF
	cat >"$dir/scrape.yml" <<EOF
global:
  scrape_interval: ${interval}s
  scrape_timeout: ${timeout}s
scrape_configs:
  - job_name: loadgen
    static_configs:
      - targets: $list
EOF
	# Metadata sending is off: neither sonde nor vmagent (by default) sends metadata.
	cat "$dir/scrape.yml" - >"$dir/prometheus.yml" <<EOF
remote_write:
  - url: $sink_url
    metadata_config:
      send: false
    queue_config:
      capacity: $capacity
      min_shards: $shards
      max_shards: $shards
      max_samples_per_send: $max_per_send
      batch_send_deadline: ${deadline}s
EOF
}

# agent_cmd NAME DIR HTTP_PORT SINK_URL: prints nothing, sets the array $cmd and $version.
agent_cmd() {
	local name=$1 dir=$2 port=$3 sink_url=$4
	case $name in
	sonde)
		cmd=("$sonde_bin" run --config "$dir/sonde.yaml" --storage.path "$dir/data"
			--server.listen "127.0.0.1:$port" --log.level warn)
		version=$("$sonde_bin" version 2>/dev/null | awk '{print $2}')
		;;
	prometheus)
		cmd=("$prometheus_bin" --enable-feature=agent --config.file "$dir/prometheus.yml"
			--storage.agent.path "$dir/data" --storage.agent.wal-compression
			--web.listen-address "127.0.0.1:$port" --log.level warn)
		version=$("$prometheus_bin" --version 2>&1 | awk 'NR == 1 {print $3}')
		;;
	vmagent)
		cmd=("$vmagent_bin" -promscrape.config "$dir/scrape.yml" -remoteWrite.url "$sink_url"
			-remoteWrite.forcePromProto -remoteWrite.tmpDataPath "$dir/data"
			-remoteWrite.queues "$shards" -remoteWrite.maxRowsPerBlock "$max_per_send"
			-remoteWrite.flushInterval "${deadline}s" -httpListenAddr "127.0.0.1:$port" -loggerLevel WARN)
		version=$vmagent_version
		;;
	*)
		echo "compare.sh: unknown agent $name" >&2
		return 1
		;;
	esac
}

# Per agent, the figures of every round (space-separated), for the summary.
declare -A cpu_per_m_of anon_per_series_of

# bench_agent NAME INDEX ROUND: one measured run; appends a table row to $rows. It is called
# from an `if`, where bash ignores errexit, so every step that can fail says `|| return 1`.
bench_agent() {
	local name=$1 idx=$2 round=$3
	local dir=$work/$name-r$round # a fresh data directory every run
	local sink_port=$((19990 + idx)) http_port=$((19900 + idx)) base=$((20000 + idx * targets))
	local sink=http://127.0.0.1:$sink_port
	mkdir -p "$dir/data" || return 1

	start "$dir/sink.log" "$loadgen" sink --listen "127.0.0.1:$sink_port"
	local sink_pid=$started
	start "$dir/targets.log" "$loadgen" targets --listen-base "127.0.0.1:$base" --targets "$targets" --series "$series" --churn "$churn" --churn-every "$churn_every"
	local targets_pid=$started
	if ! wait_http "$sink/stats" "$sink_pid" || ! wait_http "http://127.0.0.1:$((base + targets - 1))/metrics" "$targets_pid"; then
		log "$name: load generator did not start"
		cat "$dir/sink.log" "$dir/targets.log" >&2
		return 1
	fi

	write_configs "$dir" "$sink/api/v1/write" "$(target_list "$base")" || return 1
	local cmd version
	agent_cmd "$name" "$dir" "$http_port" "$sink/api/v1/write" || return 1
	if [[ ! -x $(command -v "${cmd[0]}") ]]; then
		log "$name: ${cmd[0]} not found (sonde: make build; vmagent: make bench-deps)"
		return 1
	fi

	log "$name $version: ${targets}x${series} series every ${interval}s, ${warmup}s warm-up + ${window}s measured"
	curl -sf -X POST "$sink/reset" || return 1
	start "$dir/agent.log" "${cmd[@]}"
	local pid=$started
	watch_anon "$pid" "$dir/anon-peak" &
	local watcher=$!
	sleep "$warmup"
	if ! kill -0 "$pid" 2>/dev/null; then
		log "$name exited early; its log:"
		tail -20 "$dir/agent.log" >&2
		return 1
	fi
	local t1 cpu1 samples1
	t1=$(now)
	cpu1=$(cpu_seconds "$pid")
	samples1=$(curl -sf "$sink/stats" | json_field samples) && [[ -n $samples1 ]] || return 1

	sleep "$window"
	if ! kill -0 "$pid" 2>/dev/null; then
		log "$name exited during the run; its log:"
		tail -20 "$dir/agent.log" >&2
		return 1
	fi
	local t2 cpu2 stats hwm_kb anon_kb anon_peak_kb disk
	t2=$(now)
	cpu2=$(cpu_seconds "$pid")
	stats=$(curl -sf "$sink/stats") || return 1
	hwm_kb=$(status_kb "$pid" VmHWM)
	anon_kb=$(status_kb "$pid" RssAnon)
	disk=$(du -sb "$dir/data" | awk '{print $1}')
	kill "$watcher" 2>/dev/null || true
	anon_peak_kb=$(cat "$dir/anon-peak" 2>/dev/null || echo 0)
	anon_peak_kb=$((anon_peak_kb > anon_kb ? anon_peak_kb : anon_kb))
	stop "$pid"

	local samples2 distinct ooo lag rejected
	samples2=$(json_field samples <<<"$stats")
	distinct=$(json_field series <<<"$stats")
	ooo=$(json_field out_of_order <<<"$stats")
	rejected=$(json_field rejected <<<"$stats")
	lag=$(json_field lag_mean_seconds <<<"$stats")

	local rate cpu_per_m expected
	rate=$(calc "%.0f" "($samples2 - $samples1) / ($t2 - $t1)")
	expected=$(calc "%.0f" "$active / $interval")
	if ((samples2 - samples1 == 0)); then
		cpu_per_m="n/a"
	else
		cpu_per_m=$(calc "%.2f" "($cpu2 - $cpu1) / (($samples2 - $samples1) / 1e6)")
	fi
	local anon_per_series
	anon_per_series=$(calc "%.0f" "$anon_peak_kb * 1024 / $active")
	cpu_per_m_of[$name]+="$cpu_per_m " anon_per_series_of[$name]+="$anon_per_series "
	rows+=("| $round | $name | $version | $rate | $expected | $distinct | $cpu2 | $cpu_per_m | $(calc "%.1f" "$hwm_kb / 1024") | $(calc "%.1f" "$anon_kb / 1024") | $(calc "%.1f" "$anon_peak_kb / 1024") | $anon_per_series | $(calc "%.1f" "$disk / 1048576") | $(calc "%.2f" "$lag") | $ooo | $rejected |")
	log "$name: ${rate} samples/s (expected ${expected}), ${cpu2} CPU-s, peak RSS $(calc "%.1f" "$hwm_kb / 1024") MiB, anonymous RSS $(calc "%.1f" "$anon_kb / 1024") MiB (peak $(calc "%.1f" "$anon_peak_kb / 1024"))"
}

for ((round = 1; round <= rounds; round++)); do
	# Alternate the order: odd rounds as given, even rounds reversed. Each agent keeps its
	# ports (its index in BENCH_AGENTS).
	order=$agents
	if ((round % 2 == 0)); then
		order=$(tr -s ' ' '\n' <<<"$agents" | tac | tr '\n' ' ')
	fi
	for agent in $order; do
		idx=0
		for a in $agents; do
			[[ $a == "$agent" ]] && break
			idx=$((idx + 1))
		done
		if ! bench_agent "$agent" "$idx" "$round"; then
			rows+=("| $round | $agent | | failed | | | | | | | | | | | | |")
			failures=$((failures + 1))
		fi
		stop_run
	done
done

# spread LIST: "median (min-max)" of the numbers in LIST.
spread() {
	tr -s ' ' '\n' <<<"$1" | awk 'NF && $1 != "n/a"' | sort -g | awk '{v[NR] = $1}
		END {if (NR == 0) {print "n/a"; exit}
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%.2f (%.2f-%.2f)", m, v[1], v[NR]}'
}
# ratios A B: the per-round ratios of the numbers in lists A and B.
ratios() {
	paste -d' ' <(tr -s ' ' '\n' <<<"$1" | awk NF) <(tr -s ' ' '\n' <<<"$2" | awk NF) |
		awk '$1 != "n/a" && $2 != "n/a" && $2 > 0 {printf "%.3f ", $1 / $2}'
}
summary=()
if ((rounds > 1)); then
	for agent in $agents; do
		summary+=("| $agent | $(spread "${cpu_per_m_of[$agent]:-}") | $(spread "${anon_per_series_of[$agent]:-}") |")
	done
	if [[ -n ${cpu_per_m_of[sonde]:-} && -n ${cpu_per_m_of[vmagent]:-} ]]; then
		summary+=("| sonde / vmagent, per round | $(spread "$(ratios "${cpu_per_m_of[sonde]}" "${cpu_per_m_of[vmagent]}")") | $(spread "$(ratios "${anon_per_series_of[sonde]}" "${anon_per_series_of[vmagent]}")") |")
	fi
fi

idle_line="Idle figure skipped (BENCH_IDLE_SECONDS=0)."
if ((idle_seconds > 0)); then
	log "sonde idle: host preset, no backend, ${idle_seconds}s"
	mkdir -p "$work/idle"
	start "$work/idle/agent.log" env -u SONDE_PROMETHEUS_URL "$sonde_bin" run --preset host \
		--storage.path "$work/idle/data" --server.listen 127.0.0.1:19980 --log.level warn
	idle_pid=$started
	sleep "$idle_seconds"
	# env execs sonde, so the PID is sonde's own.
	if kill -0 "$idle_pid" 2>/dev/null; then
		idle_rss=$(status_kb "$idle_pid" VmRSS)
		idle_hwm=$(status_kb "$idle_pid" VmHWM)
		idle_cpu=$(cpu_seconds "$idle_pid")
		stop "$idle_pid"
		idle_line="sonde idle (host preset, no backend, after ${idle_seconds}s): RSS $(calc "%.1f" "$idle_rss / 1024") MiB, peak $(calc "%.1f" "$idle_hwm / 1024") MiB, ${idle_cpu} CPU-s."
	else
		idle_line="sonde idle run failed: $(tail -3 "$work/idle/agent.log" | tr '\n' ' ')"
		failures=$((failures + 1))
	fi
fi

mkdir -p bench/results
out=bench/results/metrics-$(date +%Y-%m-%d-%H%M%S).md
{
	echo "## Metrics agents, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $machine. Load: $targets targets x $series series = $active active series, scrape every ${interval}s (timeout ${timeout}s);"
	echo "each agent ran ${warmup}s of warm-up then a measured window of ${window}s. Remote write: $shards shards/queues,"
	echo "capacity $capacity, $max_per_send samples per request, ${deadline}s batch deadline, remote write 1.0 to the loadgen sink."
	if [[ $churn != 0 ]]; then
		echo "Series churn: $churn of every target's series replaced every $churn_every."
	fi
	echo
	echo "$rounds round(s), agents alternating."
	echo
	echo "| round | agent | version | samples/s received | expected samples/s | distinct series at sink | CPU s (whole run) | CPU s per 1M samples | peak RSS MiB | anon RSS MiB (end) | anon RSS MiB (peak) | anon bytes per active series (peak) | WAL/disk MiB | mean lag s | out of order | rejected |"
	echo "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	printf '%s\n' "${rows[@]}"
	if ((${#summary[@]} > 0)); then
		echo
		echo "Median (min-max) over the rounds:"
		echo
		echo "| agent | CPU s per 1M samples | anon bytes per active series (peak) |"
		echo "| --- | ---: | ---: |"
		printf '%s\n' "${summary[@]}"
	fi
	echo
	echo "Anonymous RSS (RssAnon: the heap and other private memory) is the memory figure that counts;"
	echo "peak RSS (VmHWM) also holds the executable's file pages, which the kernel reclaims by itself."
	echo
	echo "$idle_line"
} | tee "$out"
log "written to $out"
exit $((failures > 0))
