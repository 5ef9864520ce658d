// Package nativecheck holds one test: the unmodified CyCoreSystems ari/v5 native
// client against the emulator. It lives apart because that client cannot be shut
// down cleanly (its Close races with its own listener under the race detector, and
// the listener then redials forever), so its goroutine must not disturb the
// emulator's own tests, which check that every goroutine stops.
package nativecheck
