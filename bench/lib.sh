# Helpers shared by the comparison scripts (compare.sh, compare-logs.sh); sourced, not run.
#
# After sourcing: call bench_setup once, then start processes with `start` (they are all
# killed on exit, the temporary directory $work removed unless BENCH_KEEP=1).
# shellcheck shell=bash

clk_tck=$(getconf CLK_TCK)
pids=()
run_pids=()

# bench_setup: creates $work and the EXIT trap that stops everything started.
bench_setup() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/sonde-bench.XXXXXX")
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ ${BENCH_KEEP:-0} == 1 ]]; then
		echo ">> kept $work" >&2
	else
		rm -rf "$work"
	fi
}

log() { echo ">> $*" >&2; }

# start LOGFILE CMD...: runs CMD in the background, logging to LOGFILE; sets $started and
# adds it to $pids (everything, stopped on exit) and $run_pids (the current run's).
start() {
	local logfile=$1
	shift
	"$@" >"$logfile" 2>&1 &
	started=$!
	pids+=("$started")
	run_pids+=("$started")
}

# stop PID: SIGTERM, up to 15 s for a clean exit, then SIGKILL.
stop() {
	local pid=$1 i
	kill "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# stop_run: stops everything the current run started, then forgets it.
stop_run() {
	local pid
	for pid in "${run_pids[@]}"; do
		stop "$pid"
	done
	run_pids=()
}

# wait_http URL PID [SECONDS]: until URL answers 2xx; fails if PID exits or after SECONDS (30).
wait_http() {
	local url=$1 pid=$2 tries=$((${3:-30} * 10)) i
	for ((i = 0; i < tries; i++)); do
		kill -0 "$pid" 2>/dev/null || return 1
		curl -sf -o /dev/null "$url" && return 0
		sleep 0.1
	done
	return 1
}

# json_field NAME: a number from pretty-printed JSON (one field per line, as loadgen writes
# it) on stdin.
json_field() { sed -n "s/^ *\"$1\": \([-0-9.eE+]*\),\{0,1\}$/\1/p"; }

# cpu_seconds PID: user + system CPU time of the process (all threads), in seconds.
cpu_seconds() {
	# Fields after "(comm) ": state is $1, so utime (field 14) is $12 and stime (15) $13.
	sed 's/^.*) //' "/proc/$1/stat" | awk -v hz="$clk_tck" '{printf "%.2f", ($12 + $13) / hz}'
}

# status_kb PID FIELD: a kB figure from /proc/PID/status (VmHWM: peak RSS, VmRSS: current).
status_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }

# watch_anon PID FILE: until PID exits, keeps the highest anonymous RSS (RssAnon, kB: the
# heap and other private memory, not the executable's file pages, which the kernel can
# reclaim) seen at 1 s intervals in FILE. Runs in the background; kill it when done.
watch_anon() {
	local pid=$1 file=$2 peak=0 kb
	while kb=$(status_kb "$pid" RssAnon 2>/dev/null) && [[ -n $kb ]]; do
		((kb > peak)) && peak=$kb && echo "$peak" >"$file"
		sleep 1
	done
}

now() { date +%s.%N; }

# calc FORMAT EXPRESSION: awk arithmetic, printed with FORMAT.
calc() { awk "BEGIN {printf \"$1\", $2}"; }

# machine: one line describing CPUs, memory and kernel.
machine() {
	local cpu mem
	cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
	mem=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
	echo "$(nproc) CPUs ($cpu), $mem RAM, $(uname -sr)"
}

# build_loadgen: builds cmd/loadgen into $work and sets $loadgen.
build_loadgen() {
	log "building loadgen"
	go build -o "$work/loadgen" ./cmd/loadgen
	# shellcheck disable=SC2034 # used by the scripts that source this file
	loadgen=$work/loadgen
}
