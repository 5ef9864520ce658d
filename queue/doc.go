// Package queue is ctid's ACD engine: agents, queues, skills, strategies and the
// arithmetic behind KPIs. It is pure: every method takes the current time and its
// inputs and returns decisions; it does no I/O and starts no goroutines.
package queue
