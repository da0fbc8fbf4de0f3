# Shared pieces of the benchmark scripts that run Debian's auditd beside
# gosquery. Source it after cd-ing to the repository root.

# The kernel's audit enabled flag before the benchmark, put back after
# each auditd run (auditd leaves audit as its own config says).
audit_enabled=$(auditctl -s 2>/dev/null | awk '$1 == "enabled" {print $2}')
audit_enabled=${audit_enabled:-1}

# cpu_ticks PID: user+system clock ticks of PID so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# auditd_start KEY: starts auditd in the foreground mode with the exec
# rule under KEY; AUDITD_PID is its pid.
auditd_start() {
	auditd -n >/dev/null 2>&1 &
	AUDITD_PID=$!
	sleep 1
	auditctl -a always,exit -F arch=b64 -S execve,execveat -k "$1" >/dev/null
	auditctl -a always,exit -F arch=b32 -S execve,execveat -k "$1" >/dev/null
}

# auditd_stop KEY: removes KEY's rules, stops auditd, restores the flag.
auditd_stop() {
	auditctl -D -k "$1" >/dev/null 2>&1 || true
	kill "$AUDITD_PID"
	wait "$AUDITD_PID" 2>/dev/null || true
	auditctl -e "$audit_enabled" >/dev/null 2>&1 || true
}
