# Shared by the operator wrappers jobs/nightly, jobs/backfill and jobs/dry-run: settings from
# an environment file, the executable, dated report paths, and running with the exit code
# passed through. See docs/operations.md for every variable.

# The exit codes of DESIGN.md, named as in Sources/TelemetryCore/ExitReason.swift (the one
# table; EndToEndTests/ExitCodeTableTests keeps these equal to it).
EXIT_SUCCESS=0
EXIT_DUMP_FAILED=1
EXIT_USAGE=2
EXIT_LOCKED=3
EXIT_REJECTS=4

# Reads the environment file: $TELEMETRY_MIGRATE_ENV, default /etc/telemetry-migrate/env.
# Shell syntax (KEY=value lines, '#' comments, quotes for spaces); every assignment is
# exported. A missing default file is fine (settings may come from the environment, as under
# systemd's Environment= or Kubernetes); a missing file named by TELEMETRY_MIGRATE_ENV is an error.
job_load_env() {
    local caller=$1
    local file=${TELEMETRY_MIGRATE_ENV:-/etc/telemetry-migrate/env}
    if [ -f "$file" ]; then
        [ -r "$file" ] || job_fail "$caller" "cannot read the environment file $file"
        set -a
        # shellcheck disable=SC1090
        . "$file" || job_fail "$caller" "the environment file $file has an error"
        set +a
    elif [ -n "${TELEMETRY_MIGRATE_ENV:-}" ]; then
        job_fail "$caller" "no environment file $file (TELEMETRY_MIGRATE_ENV)"
    fi
    [ -n "${DUMPS_DIR:-}" ] || job_fail "$caller" "DUMPS_DIR is not set (in $file or the environment)"
    # A DUMPS_DIR that is missing or unreadable (a mount lost) is the tool's to report: its
    # report and metrics then say so, instead of last night's.
}

# Prints a message to stderr and exits EXIT_USAGE (configuration error, as the tool itself does).
job_fail() {
    echo "$1: $2" >&2
    exit "$EXIT_USAGE"
}

# Sets JOB_TOOL: $TELEMETRY_MIGRATE_BIN, else telemetry-migrate on PATH, else this
# checkout's release build.
job_find_tool() {
    local caller=$1
    local repo
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    if [ -n "${TELEMETRY_MIGRATE_BIN:-}" ]; then
        JOB_TOOL=$TELEMETRY_MIGRATE_BIN
    elif command -v telemetry-migrate >/dev/null 2>&1; then
        JOB_TOOL=$(command -v telemetry-migrate)
    else
        JOB_TOOL=$repo/.build/release/telemetry-migrate
    fi
    [ -x "$JOB_TOOL" ] || job_fail "$caller" "no executable $JOB_TOOL (set TELEMETRY_MIGRATE_BIN, or run swift build -c release)"
}

# Sets JOB_REPORT and JOB_REJECTS to REPORT_DIR/<kind>-YYYY-MM-DDTHHMMSSZ.json and
# .rejects.csv beside it (a -2, -3 ... suffix if a run in the same second left one).
job_output_paths() {
    local caller=$1 kind=$2
    local dir=${REPORT_DIR:-/var/lib/telemetry-migrate/reports}
    mkdir -p "$dir" 2>/dev/null || job_fail "$caller" "cannot create REPORT_DIR $dir"
    [ -w "$dir" ] || job_fail "$caller" "cannot write to REPORT_DIR $dir"
    local base
    base="$dir/$kind-$(date -u +%Y-%m-%dT%H%M%SZ)"
    local candidate=$base n=1
    while [ -e "$candidate.json" ] || [ -e "$candidate.rejects.csv" ]; do
        n=$((n + 1))
        candidate="$base-$n"
    done
    JOB_REPORT=$candidate.json
    JOB_REJECTS=$candidate.rejects.csv
}

# Sets JOB_SHARD_ARGS (--shard K/N, or --workers N) from SHARD_COUNT, SHARD_INDEX (default:
# Kubernetes' JOB_COMPLETION_INDEX) and WORKERS; JOB_SHARD_SUFFIX to "-shard-K-of-N" (or
# empty), and METRICS_FILE gets the same suffix, so concurrent shards never share a file.
# A shard's process writes through one connection (the tool refuses --shard with --workers
# > 1), so under SHARD_COUNT a WORKERS meant for an unsplit run is left out, with a note,
# rather than failing every unit every night.
job_shard_args() {
    local caller=$1
    JOB_SHARD_ARGS=()
    JOB_SHARD_SUFFIX=
    if [ -n "${SHARD_COUNT:-}" ] && [ "$SHARD_COUNT" != 1 ]; then
        local index=${SHARD_INDEX:-${JOB_COMPLETION_INDEX:-}}
        [ -n "$index" ] || job_fail "$caller" "SHARD_COUNT is set but neither SHARD_INDEX nor JOB_COMPLETION_INDEX"
        JOB_SHARD_ARGS+=(--shard "$index/$SHARD_COUNT")
        JOB_SHARD_SUFFIX="-shard-$index-of-$SHARD_COUNT"
        if [ -n "${METRICS_FILE:-}" ]; then
            METRICS_FILE="${METRICS_FILE%.prom}$JOB_SHARD_SUFFIX.prom"
        fi
        if [ -n "${WORKERS:-}" ] && [ "$WORKERS" != 1 ]; then
            echo "$caller: WORKERS=$WORKERS not used: a shard's process writes through one connection (SHARD_COUNT=$SHARD_COUNT processes are the workers)" >&2
        fi
    elif [ -n "${WORKERS:-}" ]; then
        JOB_SHARD_ARGS+=(--workers "$WORKERS")
    fi
    return 0
}

# Sets JOB_COMMON_ARGS from MAX_REJECTS, METRICS_FILE, LOG_FORMAT, LOG_LEVEL and EXTRA_ARGS
# (split on white space).
job_common_args() {
    JOB_COMMON_ARGS=()
    [ -n "${MAX_REJECTS:-}" ] && JOB_COMMON_ARGS+=(--max-rejects "$MAX_REJECTS")
    [ -n "${METRICS_FILE:-}" ] && JOB_COMMON_ARGS+=(--metrics-file "$METRICS_FILE")
    [ -n "${LOG_FORMAT:-}" ] && JOB_COMMON_ARGS+=(--log-format "$LOG_FORMAT")
    [ -n "${LOG_LEVEL:-}" ] && JOB_COMMON_ARGS+=(--log-level "$LOG_LEVEL")
    if [ -n "${EXTRA_ARGS:-}" ]; then
        local extra
        read -r -a extra <<<"$EXTRA_ARGS"
        JOB_COMMON_ARGS+=("${extra[@]}")
    fi
    return 0
}

# Runs the tool with the given arguments, then (when report paths are set) prints where the
# report and rejected lines are; exits with the tool's exit code, unchanged. A SIGTERM or
# SIGINT this shell gets is passed on to the tool as SIGTERM, which stops the run with its
# report (exit 1): under Kubernetes this shell is PID 1, which the kernel sends no signal it
# does not handle, so the tool would otherwise run on until the SIGKILL.
job_run() {
    local caller=$1
    shift
    local status=0 child=""
    trap '[ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
    "$JOB_TOOL" "$@" &
    child=$!
    # A trapped signal interrupts `wait` (status > 128): wait again for the tool's own status
    # (bash keeps it for a child already reaped, also one a signal ended).
    while :; do
        wait "$child"
        status=$?
        [ "$status" -gt 128 ] || break
        kill -0 "$child" 2>/dev/null || { wait "$child"; status=$?; break; }
    done
    trap - TERM INT
    if [ -n "${JOB_REPORT:-}" ]; then
        echo
        local meaning
        case $status in
            "$EXIT_SUCCESS") meaning="ok" ;;
            "$EXIT_DUMP_FAILED") meaning="a dump failed; later dumps were not processed" ;;
            "$EXIT_USAGE") meaning="usage or configuration error (is the database up?)" ;;
            "$EXIT_LOCKED") meaning="another run holds the lock" ;;
            "$EXIT_REJECTS") meaning="too many rejected lines (MAX_REJECTS)" ;;
            *) meaning="unexpected" ;;
        esac
        echo "$caller: exit $status ($meaning)"
        [ -f "$JOB_REPORT" ] && echo "$caller: report $JOB_REPORT"
        if [ -f "$JOB_REJECTS" ]; then
            local lines
            lines=$(($(wc -l <"$JOB_REJECTS") - 1))
            [ "$lines" -lt 0 ] && lines=0
            echo "$caller: $lines rejected lines in $JOB_REJECTS"
        fi
    fi
    exit "$status"
}
