//go:build unix

package store

import (
	"syscall"
	"time"
)

// cpuTime is the process's user + system CPU time so far (benchmarks report CPU per
// operation, which a loaded machine distorts less than wall time).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
}
