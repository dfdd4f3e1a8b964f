#!/usr/bin/env bash
# Side-by-side benchmark of OTLP forwarding: sonde's sidecar preset (otelcol.receiver.otlp ->
# memory_limiter -> batch -> otelcol.exporter.otlp) and an OpenTelemetry Collector built from
# the same collector modules (bench/otelcol: otlpreceiver, memory_limiter, batch, otlpexporter
# at v0.162.0, bench/otelcol/config.yaml: the same settings). loadgen otlp-send exports
# traces to the agent over OTLP/gRPC; the agent forwards them to a counting receiver
# (loadgen otlp-sink). Each round runs, for each agent in turn: a fixed-rate run (preceded by
# an idle window on the same fresh agent) and a maximum-throughput run, each on a fresh agent
# and a fresh sink. Rounds alternate the agents, to spread the noise of a shared machine.
#
# Usage: bench/compare-otlp.sh   (from anywhere; `make bench` runs it after compare-logs.sh)
# Settings (environment):
#   BENCH_OTLP_ROUNDS=2              rounds (each: every agent, both runs)
#   BENCH_OTLP_RATE=20000            spans/s of the fixed-rate run
#   BENCH_OTLP_WARMUP=5              seconds of load before the measured window
#   BENCH_OTLP_WINDOW=30             measured window, seconds
#   BENCH_OTLP_BATCH=512             spans per request from the sender (the SDKs' default)
#   BENCH_OTLP_CONNS=4               sender connections (one service instance each)
#   BENCH_OTLP_IDLE_SECONDS=30       idle window before the fixed-rate load (0 skips it)
#   BENCH_OTLP_RUNS="rate max"       which runs
#   BENCH_OTLP_AGENTS="sonde otelcol"
#   BENCH_OTLP_PROFILE_SECONDS=0     >0: a CPU profile of N seconds inside each measured window:
#                                    sonde from /debug/pprof/profile, the collector with perf
#                                    (when installed); saved next to the results. Profiling
#                                    costs the agents CPU: take figures from a run without it.
#                                    Read with: go tool pprof -top $SONDE_BIN <file>.pprof;
#                                    perf report -i <file>.perf.data --children --sort symbol
#   BENCH_KEEP=1                     keep the temp dir (configs, logs)
#   SONDE_BIN=./bin/sonde  OTELCOL_BIN=<cache>/bin/otelcol-$OTELCOL_VERSION
#   OTELCOL_VERSION=v0.162.0  SONDE_CACHE=$HOME/.cache/sonde
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

rounds=${BENCH_OTLP_ROUNDS:-2}
rate=${BENCH_OTLP_RATE:-20000}
warmup=${BENCH_OTLP_WARMUP:-5}
window=${BENCH_OTLP_WINDOW:-30}
batch=${BENCH_OTLP_BATCH:-512}
conns=${BENCH_OTLP_CONNS:-4}
idle_seconds=${BENCH_OTLP_IDLE_SECONDS:-30}
runs=${BENCH_OTLP_RUNS:-rate max}
agents=${BENCH_OTLP_AGENTS:-sonde otelcol}
profile_seconds=${BENCH_OTLP_PROFILE_SECONDS:-0}
cache=${SONDE_CACHE:-$HOME/.cache/sonde}
otelcol_version=${OTELCOL_VERSION:-v0.162.0}
sonde_bin=${SONDE_BIN:-./bin/sonde}
otelcol_bin=${OTELCOL_BIN:-$cache/bin/otelcol-$otelcol_version}

# Ports, apart from the other scripts': the sink (gRPC, /stats), each agent's OTLP gRPC and
# HTTP listeners and its own HTTP server (sonde: UI, metrics, pprof; collector: metrics).
sink_port=17417 sink_stats_port=17997
sonde_grpc=17317 sonde_http=17318 sonde_server=17900
otelcol_grpc=17327 otelcol_http=17328 otelcol_metrics=17888

if ((window < 1 || warmup < 0 || rounds < 1)); then
	echo "compare-otlp.sh: BENCH_OTLP_WINDOW must be at least 1, BENCH_OTLP_ROUNDS at least 1" >&2
	exit 2
fi
if ((profile_seconds > window)); then
	echo "compare-otlp.sh: BENCH_OTLP_PROFILE_SECONDS ($profile_seconds) must not exceed BENCH_OTLP_WINDOW ($window)" >&2
	exit 2
fi

# shellcheck source=bench/lib.sh
source bench/lib.sh
bench_setup
build_loadgen
for bin in "$sonde_bin" "$otelcol_bin"; do
	if [[ ! -x $bin ]]; then
		log "$bin not found (sonde: make build; the collector: make bench-deps, or bench/build-otelcol.sh)"
		exit 1
	fi
done
sonde_version=$("$sonde_bin" version 2>/dev/null | awk '{print $2}')
otelcol_version_out=$("$otelcol_bin" --version 2>/dev/null | awk '{print $NF}')
stamp=$(date +%Y-%m-%d-%H%M%S)
mkdir -p bench/results
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
sink_stats=http://127.0.0.1:$sink_stats_port/stats

# wait_port PORT PID [SECONDS]: until something listens on 127.0.0.1:PORT; fails if PID
# exits or after SECONDS (30).
wait_port() {
	local port=$1 pid=$2 tries=$((${3:-30} * 10)) i
	for ((i = 0; i < tries; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		(: </dev/tcp/127.0.0.1/"$port") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# sink_spans: spans the sink has counted since its last reset.
sink_spans() { curl -sf "$sink_stats" | json_field spans; }

# start_agent NAME DIR: starts the agent forwarding to the sink; sets $agent_pid and
# $agent_port (its OTLP gRPC port), and $version.
start_agent() {
	local name=$1 dir=$2
	case $name in
	sonde)
		# env execs sonde, so the PID is sonde's own.
		start "$dir/agent.log" env SONDE_OTLP_GRPC_LISTEN=127.0.0.1:$sonde_grpc SONDE_OTLP_HTTP_LISTEN=127.0.0.1:$sonde_http \
			"$sonde_bin" run --preset sidecar --otlp-endpoint "127.0.0.1:$sink_port" \
			--storage.path "$dir/data" --server.listen "127.0.0.1:$sonde_server" --log.level warn
		agent_port=$sonde_grpc version=$sonde_version
		;;
	otelcol)
		start "$dir/agent.log" env OTELCOL_GRPC_LISTEN=127.0.0.1:$otelcol_grpc OTELCOL_HTTP_LISTEN=127.0.0.1:$otelcol_http \
			OTELCOL_OTLP_ENDPOINT=127.0.0.1:$sink_port OTELCOL_METRICS_PORT=$otelcol_metrics \
			"$otelcol_bin" --config bench/otelcol/config.yaml
		agent_port=$otelcol_grpc version=$otelcol_version_out
		;;
	*)
		echo "compare-otlp.sh: unknown agent $name" >&2
		return 1
		;;
	esac
	agent_pid=$started
	wait_port "$agent_port" "$agent_pid" || { log "$name did not start; its log:"; tail -20 "$dir/agent.log" >&2; return 1; }
}

# profile NAME RUN ROUND PID: starts a CPU profile of PROFILE_SECONDS in the background;
# sets $prof_pid (empty when none).
profile() {
	local name=$1 run=$2 round=$3 pid=$4 base
	base=bench/results/otlp-$stamp-$name-$run-r$round
	prof_pid=""
	((profile_seconds > 0)) || return 0
	case $name in
	sonde)
		start "$work/profile.log" curl -sf -o "$base.pprof" \
			"http://127.0.0.1:$sonde_server/debug/pprof/profile?seconds=$profile_seconds"
		prof_pid=$started
		;;
	otelcol)
		# The distribution has no pprof extension (its components are exactly sonde's peers).
		if command -v perf >/dev/null; then
			start "$work/profile.log" perf record -F 499 -g -o "$base.perf.data" -p "$pid" -- sleep "$profile_seconds"
			prof_pid=$started
		fi
		;;
	esac
}

rows=()
idle_rows=()
failures=0
declare -A per_cpu delivered_rate peak_rss steady_rss

# bench_run NAME RUN ROUND: one measured run; appends a row to $rows. Called from an `if`,
# where bash ignores errexit: every step that can fail says `|| return 1`.
bench_run() {
	local name=$1 run=$2 round=$3
	local dir=$work/$name-$run-r$round
	mkdir -p "$dir/data" || return 1
	start "$dir/sink.log" "$loadgen" otlp-sink --listen "127.0.0.1:$sink_port" --stats-listen "127.0.0.1:$sink_stats_port"
	wait_http "$sink_stats" "$started" || { log "sink did not start"; tail -20 "$dir/sink.log" >&2; return 1; }
	local sink_pid=$started
	local agent_pid agent_port version
	start_agent "$name" "$dir" || return 1

	if [[ $run == rate ]] && ((idle_seconds > 0)); then
		log "$name idle ${idle_seconds}s (no traffic)"
		local i0 c0
		i0=$(now) c0=$(cpu_seconds "$agent_pid")
		sleep "$idle_seconds"
		kill -0 "$agent_pid" 2>/dev/null || { log "$name exited while idle"; tail -20 "$dir/agent.log" >&2; return 1; }
		local irss ianon ifile ihwm icpu isecs
		irss=$(status_kb "$agent_pid" VmRSS) ihwm=$(status_kb "$agent_pid" VmHWM)
		ianon=$(status_kb "$agent_pid" RssAnon) ifile=$(status_kb "$agent_pid" RssFile)
		icpu=$(calc "%.2f" "$(cpu_seconds "$agent_pid") - $c0") isecs=$(calc "%.1f" "$(now) - $i0")
		idle_rows+=("| $round | $name | $version | $isecs | $(calc "%.1f" "$irss / 1024") | $(calc "%.1f" "$ianon / 1024") | $(calc "%.1f" "$ifile / 1024") | $(calc "%.1f" "$ihwm / 1024") | $icpu | $(calc "%.4f" "$icpu / $isecs") |")
	fi

	local send_rate=$rate label="$rate spans/s"
	if [[ $run == max ]]; then
		send_rate=0 label="as fast as possible"
	fi
	log "round $round: $name $version, $label, $conns connections x $batch spans/request, ${warmup}s + ${window}s"
	curl -sf -X POST "http://127.0.0.1:$sink_stats_port/reset" || return 1
	# The sender runs a second past the window, so the whole window is under load.
	start "$dir/send.json" "$loadgen" otlp-send --endpoint "127.0.0.1:$agent_port" --rate "$send_rate" \
		--duration "$((warmup + window + 1))s" --batch "$batch" --conns "$conns"
	local send_pid=$started
	sleep "$warmup"

	local t1 cpu1 spans1 scpu1 kcpu1
	t1=$(now) cpu1=$(cpu_seconds "$agent_pid") spans1=$(sink_spans) && [[ -n $spans1 ]] || return 1
	scpu1=$(cpu_seconds "$send_pid" 2>/dev/null || echo 0) kcpu1=$(cpu_seconds "$sink_pid")
	local prof_pid
	profile "$name" "$run" "$round" "$agent_pid"
	# Steady RSS: the mean of VmRSS sampled every second over the window.
	local rss_sum=0 rss_n=0 end
	end=$(calc "%.3f" "$t1 + $window")
	while (($(calc "%d" "($(now) < $end)"))); do
		kill -0 "$agent_pid" 2>/dev/null || { log "$name exited during the run; its log:"; tail -20 "$dir/agent.log" >&2; return 1; }
		rss_sum=$((rss_sum + $(status_kb "$agent_pid" VmRSS))) rss_n=$((rss_n + 1))
		sleep "$(calc "%.3f" "($end - $(now) < 1) ? ($end - $(now) > 0 ? $end - $(now) : 0) : 1")"
	done
	local t2 cpu2 spans2 scpu2 kcpu2 hwm_kb
	t2=$(now) cpu2=$(cpu_seconds "$agent_pid") spans2=$(sink_spans) && [[ -n $spans2 ]] || return 1
	scpu2=$(cpu_seconds "$send_pid" 2>/dev/null || echo "$scpu1") kcpu2=$(cpu_seconds "$sink_pid")
	hwm_kb=$(status_kb "$agent_pid" VmHWM)

	wait "$send_pid" || log "$name: otlp-send exited non-zero (see below)"
	local send_secs accepted refused
	send_secs=$(json_field elapsed_seconds <"$dir/send.json")
	accepted=$(json_field spans_accepted <"$dir/send.json")
	refused=$(json_field spans_refused <"$dir/send.json")
	[[ -n $accepted ]] || { log "no summary from otlp-send:"; cat "$dir/send.json" >&2; return 1; }
	# Drain: what the agent accepted reaches the sink within its batch timeout and one
	# export; wait until the count stops moving (at most 30 s).
	local total last="" i
	for ((i = 0; i < 60; i++)); do
		total=$(sink_spans) || total=0
		((total >= accepted)) && break
		[[ $total == "$last" ]] && ((i >= 6)) && break
		last=$total
		sleep 0.5
	done
	if [[ -n $prof_pid ]]; then
		wait "$prof_pid" 2>/dev/null || log "profile of $name not written (see $work/profile.log)"
	fi
	local stats lag per_req
	stats=$(curl -sf "$sink_stats") || return 1
	lag=$(json_field lag_mean_seconds <<<"$stats")
	per_req=$(json_field spans_per_request <<<"$stats")
	local final_cpu
	final_cpu=$(cpu_seconds "$agent_pid")
	stop "$agent_pid"

	local secs rate_in cpu per steady lost
	secs=$(calc "%.3f" "$t2 - $t1")
	rate_in=$(calc "%.0f" "($spans2 - $spans1) / $secs")
	cpu=$(calc "%.2f" "$cpu2 - $cpu1")
	steady=$((rss_n > 0 ? rss_sum / rss_n : 0))
	if [[ $cpu == 0.00 ]]; then
		per="n/a"
	else
		per=$(calc "%.0f" "($spans2 - $spans1) / $cpu")
	fi
	lost=$((accepted - total))
	per_cpu[$name,$run]+="$per " delivered_rate[$name,$run]+="$rate_in "
	peak_rss[$name,$run]+="$hwm_kb " steady_rss[$name,$run]+="$steady "
	rows+=("| $round | $name | $version | $run | $(calc "%.0f" "$accepted / $send_secs") | $rate_in | $(calc "%.0f" "$per_req") | $cpu | $(calc "%.2f" "$cpu / $secs") | $per | $(calc "%.1f" "$hwm_kb / 1024") | $(calc "%.1f" "$steady / 1024") | $refused | $lost | $(calc "%.2f" "$lag") | $(calc "%.1f" "$scpu2 - $scpu1") / $(calc "%.1f" "$kcpu2 - $kcpu1") |")
	log "$name $run: $rate_in spans/s delivered, $cpu CPU-s in ${secs}s ($per spans per CPU-s), peak RSS $(calc "%.1f" "$hwm_kb / 1024") MiB, steady $(calc "%.1f" "$steady / 1024") MiB, refused $refused, lost $lost (agent total $final_cpu CPU-s)"
}

for ((round = 1; round <= rounds; round++)); do
	# Alternate the order: odd rounds as given, even rounds reversed.
	order=$agents
	if ((round % 2 == 0)); then
		order=$(tr -s ' ' '\n' <<<"$agents" | tac | tr '\n' ' ')
	fi
	for run in $runs; do
		for agent in $order; do
			if ! bench_run "$agent" "$run" "$round"; then
				rows+=("| $round | $agent | | $run | failed | | | | | | | | | | | |")
				failures=$((failures + 1))
			fi
			stop_run
		done
	done
done

# stat LIST SCALE: "mean (min-max)" of the numbers in LIST, each divided by SCALE.
stat() {
	local list=$1 scale=${2:-1}
	[[ -n ${list// /} ]] || { echo "n/a"; return; }
	tr -s ' ' '\n' <<<"$list" | awk -v s="$scale" 'NF && $1 != "n/a" {v = $1 / s; sum += v; n++; if (n == 1 || v < lo) lo = v; if (n == 1 || v > hi) hi = v}
		END {if (n == 0) {print "n/a"} else if (s == 1) {printf "%.0f (%.0f-%.0f)", sum / n, lo, hi} else {printf "%.1f (%.1f-%.1f)", sum / n, lo, hi}}'
}
mean() { tr -s ' ' '\n' <<<"$1" | awk 'NF && $1 != "n/a" {s += $1; n++} END {if (n) printf "%.6f", s / n; else print 0}'; }

summary=()
for run in $runs; do
	for agent in $agents; do
		summary+=("| $run | $agent | $(stat "${delivered_rate[$agent,$run]:-}") | $(stat "${per_cpu[$agent,$run]:-}") | $(stat "${peak_rss[$agent,$run]:-}" 1024) | $(stat "${steady_rss[$agent,$run]:-}" 1024) |")
	done
done
ratios=()
for run in $runs; do
	s=$(mean "${per_cpu[sonde,$run]:-}") o=$(mean "${per_cpu[otelcol,$run]:-}")
	sp=$(mean "${peak_rss[sonde,$run]:-}") op=$(mean "${peak_rss[otelcol,$run]:-}")
	ss=$(mean "${steady_rss[sonde,$run]:-}") os=$(mean "${steady_rss[otelcol,$run]:-}")
	if [[ $o != 0 && $op != 0 && $os != 0 ]]; then
		ratios+=("| $run | $(calc "%.2f" "$s / $o") | $(calc "%.2f" "$sp / $op") | $(calc "%.2f" "$ss / $os") |")
	fi
done

out=bench/results/otlp-$stamp.md
{
	echo "## OTLP forwarding, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Machine: $(machine). Load average (1, 5, 15 min) at start: $load_start; at end: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo "sonde $sonde_version (--preset sidecar); OpenTelemetry Collector $otelcol_version_out (bench/otelcol: otlp receiver, memory_limiter, batch, otlp exporter; bench/otelcol/config.yaml)."
	echo "Load: loadgen otlp-send, $conns connections x $batch spans per request (5-span traces, about 10 attributes per span), uncompressed, to the agent's OTLP/gRPC;"
	echo "the agent batches (8192 spans / 200 ms) and exports with gzip to loadgen otlp-sink. Runs: rate = $rate spans/s, max = as fast as the sender can;"
	echo "${warmup}s of load, then a ${window}s measured window. $rounds round(s), agents alternating."
	echo
	echo "| round | agent | version | run | accepted spans/s (sender) | delivered spans/s (window) | spans per export | agent CPU s (window) | cores | spans per CPU-s | peak RSS MiB | steady RSS MiB | refused | lost | mean lag s | CPU s sender / sink |"
	echo "| ---: | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
	printf '%s\n' "${rows[@]}"
	echo
	echo "Mean (min-max) over the rounds:"
	echo
	echo "| run | agent | delivered spans/s | spans per CPU-s | peak RSS MiB | steady RSS MiB |"
	echo "| --- | --- | ---: | ---: | ---: | ---: |"
	printf '%s\n' "${summary[@]}"
	if ((${#ratios[@]} > 0)); then
		echo
		echo "| run | spans per CPU-s, sonde / collector | peak RSS, sonde / collector | steady RSS, sonde / collector |"
		echo "| --- | ---: | ---: | ---: |"
		printf '%s\n' "${ratios[@]}"
	fi
	if ((${#idle_rows[@]} > 0)); then
		echo
		echo "| round | agent (idle, fresh, no traffic) | version | seconds | RSS MiB | anonymous MiB | file-backed MiB | peak RSS MiB | CPU s | cores |"
		echo "| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
		printf '%s\n' "${idle_rows[@]}"
	fi
	if ((profile_seconds > 0)); then
		echo
		echo "CPU profiles (${profile_seconds}s inside each window): bench/results/otlp-$stamp-<agent>-<run>-r<round>.{pprof,perf.data}"
	fi
} | tee "$out"
log "written to $out"
exit $((failures > 0))
