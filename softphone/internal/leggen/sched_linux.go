//go:build linux

package main

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ordinaryScheduling puts every thread of this process on the ordinary scheduler
// (SCHED_OTHER, nice 0). A child inherits its parent's policy: with the gateway
// (the benchmark process) run under chrt, the generator — the stand-in for the
// browsers and Asterisk, which run elsewhere — would otherwise get the same
// realtime priority. Threads created later inherit it from their creator; two
// passes catch one created during the first.
func ordinaryScheduling() error {
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		var errs []error
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}
			if err := unix.SchedSetAttr(tid, &attr, 0); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}
