package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
)

type pendingItem struct {
	seq  uint64
	rec  Record
	done chan error // capacity 1; nil when nobody waits
}

// writer is the queue between callers and the writer goroutine.
type writer struct {
	mu       sync.Mutex
	queue    []pendingItem
	lastSeq  uint64        // last sequence number handed out
	doneSeq  uint64        // every record up to here is committed or rejected
	progress chan struct{} // closed (and replaced) whenever doneSeq moves or the writer stops
	closed   bool          // no more records accepted
	stopped  bool          // writer goroutine gone
	lastErr  error         // last engine failure, cleared on success
	failures int           // consecutive failed attempts
	stats    Stats
	wake     chan struct{} // capacity 1: flush now
	drainErr error         // set once by the writer goroutine on exit
	fullLog  time.Time     // last "backlog full" log line (at most one a second)
	failLog  time.Time     // last "write failed" log line (the first of an outage, then one a minute)
}

// Stats counts what the writer did since Open.
type Stats struct {
	Pending        int    // records waiting in memory
	Committed      uint64 // records committed
	Rejected       uint64 // records the engine refused (logged, never retried)
	BacklogFull    uint64 // records refused with ErrBacklogFull
	FailedAttempts uint64 // transactions that failed for an engine outage
	LastError      string // last engine failure, empty once writes succeed again
}

func (w *writer) init() {
	w.progress = make(chan struct{})
	w.wake = make(chan struct{}, 1)
}

func (w *writer) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Stats is a snapshot of the writer's counters (for metrics and /readyz).
func (s *Store) Stats() Stats {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	st := s.w.stats
	st.Pending = len(s.w.queue)
	if s.w.lastErr != nil {
		st.LastError = s.w.lastErr.Error()
	}
	return st
}

// Ready reports whether the store is keeping up, for a readiness check: not ready
// while the engine fails or the backlog is above 80% of store.writer.max_pending.
func (s *Store) Ready() (ok bool, reason string) {
	st := s.Stats()
	switch {
	case st.LastError != "":
		return false, fmt.Sprintf("store writes failing (%d pending): %s", st.Pending, st.LastError)
	case st.Pending*5 > s.cfg.Writer.MaxPending*4:
		return false, fmt.Sprintf("store backlog %d of %d", st.Pending, s.cfg.Writer.MaxPending)
	}
	return true, ""
}

// Enqueue queues rec for the writer and returns at once. It fails with
// ErrInvalidRecord, ErrClosed, or ErrBacklogFull when store.writer.max_pending records
// are already waiting (logged at error level: the record is not saved).
func (s *Store) Enqueue(rec Record) error {
	_, err := s.enqueue(rec, false)
	return err
}

func (s *Store) enqueue(rec Record, durable bool) (pendingItem, error) {
	if rec == nil {
		return pendingItem{}, fmt.Errorf("%w: nil record", ErrInvalidRecord)
	}
	p, err := rec.prepared(s.now())
	if err != nil {
		return pendingItem{}, err
	}
	w := &s.w
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return pendingItem{}, fmt.Errorf("%w: %s not saved", ErrClosed, p.describe())
	}
	// Durable saves are not bounded here: each has a caller blocked on it.
	if !durable && len(w.queue) >= s.cfg.Writer.MaxPending {
		w.stats.BacklogFull++
		total, pending, lastErr := w.stats.BacklogFull, len(w.queue), w.lastErr
		now := time.Now()
		logIt := now.Sub(w.fullLog) >= time.Second
		if logIt {
			w.fullLog = now
		}
		w.mu.Unlock()
		if logIt { // every refusal is counted and returned; the log is limited to one line a second
			s.log.Error().Str("record", p.describe()).Int("pending", pending).Uint64("refused_total", total).
				AnErr("last_store_error", lastErr).
				Msg("STORE BACKLOG FULL: records refused and NOT saved; the database is not keeping up or is failing")
		}
		return pendingItem{}, fmt.Errorf("%w: %s (%d records pending)", ErrBacklogFull, p.describe(), pending)
	}
	w.lastSeq++
	it := pendingItem{seq: w.lastSeq, rec: p}
	if durable {
		it.done = make(chan error, 1)
	}
	w.queue = append(w.queue, it)
	n := len(w.queue)
	w.mu.Unlock()
	if durable || n >= s.cfg.Writer.BatchSize {
		w.poke()
	}
	return it, nil
}

// SaveDurable saves rec and returns only after the transaction holding it has
// committed: use it for what a user is told is saved. An error means it is not
// confirmed: ErrInvalidRecord or ErrRejected (never saved), ErrClosed, or ctx's error
// (the record stays queued and may still be saved).
func (s *Store) SaveDurable(ctx context.Context, rec Record) error {
	it, err := s.enqueue(rec, true)
	if err != nil {
		return err
	}
	select {
	case err := <-it.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("store: %s not confirmed saved (still queued): %w", it.rec.describe(), ctx.Err())
	}
}

// Sync returns once every record queued before the call is committed (or rejected
// and logged), ErrClosed if the store closed first, or ctx's error.
func (s *Store) Sync(ctx context.Context) error {
	w := &s.w
	w.mu.Lock()
	target := w.lastSeq
	w.mu.Unlock()
	w.poke()
	for {
		w.mu.Lock()
		done, stopped, ch, lastErr := w.doneSeq >= target, w.stopped, w.progress, w.lastErr
		w.mu.Unlock()
		if done {
			return nil
		}
		if stopped {
			return fmt.Errorf("%w: records still unsaved", ErrClosed)
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("store sync: %w (store failing: %v)", ctx.Err(), lastErr)
			}
			return fmt.Errorf("store sync: %w", ctx.Err())
		case <-ch:
		}
	}
}

// run is the writer goroutine.
func (s *Store) run() {
	defer close(s.writerDone)
	ticker := time.NewTicker(s.cfg.Writer.FlushInterval)
	defer ticker.Stop()
	backoff := time.Duration(0)
	var lastCommit time.Time
	for {
		select {
		case <-s.stop:
			s.drain()
			return
		case <-s.w.wake:
		case <-ticker.C:
		}
		// Group commit: what arrives meanwhile shares the transaction (GroupCommit).
		if wait := s.cfg.Writer.GroupCommit - time.Since(lastCommit); wait > 0 && !s.batchFull() {
			t := time.NewTimer(wait)
			select {
			case <-s.stop:
				t.Stop()
				s.drain()
				return
			case <-t.C:
			}
		}
		for {
			more, err := s.flushOnce(context.Background())
			if err == nil {
				lastCommit = time.Now()
				backoff = 0
				if more {
					continue
				}
				break
			}
			backoff = min(max(2*backoff, 50*time.Millisecond), s.cfg.Writer.RetryMax)
			t := time.NewTimer(backoff)
			select {
			case <-s.stop:
				t.Stop()
				s.drain()
				return
			case <-t.C:
			}
		}
	}
}

// drain flushes what is left at Close, for up to close_timeout.
func (s *Store) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Writer.CloseTimeout)
	defer cancel()
	for ctx.Err() == nil {
		more, err := s.flushOnce(ctx)
		if err == nil && !more {
			break
		}
		if err != nil {
			t := time.NewTimer(100 * time.Millisecond)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	w := &s.w
	w.mu.Lock()
	left := w.queue
	w.queue = nil
	w.stopped = true
	lastErr := w.lastErr
	close(w.progress)
	w.progress = make(chan struct{})
	w.mu.Unlock()
	if len(left) == 0 {
		return
	}
	ev := s.log.Error().Int("unsaved", len(left)).AnErr("last_store_error", lastErr)
	for i, it := range left {
		if i < 20 {
			ev = ev.Str(fmt.Sprintf("record_%d", i), it.rec.describe())
		}
		if it.done != nil {
			it.done <- fmt.Errorf("%w: %s not saved", ErrClosed, it.rec.describe())
		}
	}
	ev.Msg("STORE CLOSED WITH RECORDS NOT SAVED")
	w.drainErr = fmt.Errorf("%w: %d records not saved (last error: %v)", ErrClosed, len(left), lastErr)
}

// flushOnce commits up to one batch from the head of the queue. It returns whether
// more records wait, and an error only for an engine outage (records kept).
func (s *Store) flushOnce(ctx context.Context) (bool, error) {
	w := &s.w
	w.mu.Lock()
	n := min(len(w.queue), s.cfg.Writer.BatchSize)
	batch := make([]pendingItem, n)
	copy(batch, w.queue[:n])
	w.mu.Unlock()
	if n == 0 {
		return false, nil
	}
	err := s.commit(ctx, batch)
	if err == nil {
		return s.complete(batch, nil), nil
	}
	if !permanent(err) {
		s.failed(err, n)
		return false, err
	}
	// Some record is refused: find it by committing one at a time.
	more := false
	for i := range batch {
		one := batch[i : i+1]
		err := s.commit(ctx, one)
		if err != nil && !permanent(err) {
			s.failed(err, 1)
			return false, err
		}
		if err != nil {
			s.log.Error().Err(err).Str("record", one[0].rec.describe()).Msg("STORE REJECTED RECORD: not saved")
			err = fmt.Errorf("%w: %s: %v", ErrRejected, one[0].rec.describe(), err)
		}
		more = s.complete(one, err)
	}
	return more, nil
}

func (s *Store) failed(err error, n int) {
	w := &s.w
	w.mu.Lock()
	w.lastErr = err
	w.failures++
	w.stats.FailedAttempts++
	failures, pending := w.failures, len(w.queue)
	// Loud once per outage, then a reminder a minute while it lasts (not a line per retry).
	now := time.Now()
	logIt := failures == 1 || now.Sub(w.failLog) >= failLogEvery
	if logIt {
		w.failLog = now
	}
	w.mu.Unlock()
	if !logIt {
		s.log.Debug().Err(err).Int("pending", pending).Int("consecutive_failures", failures).Msg("store write retry failed")
		return
	}
	s.log.Error().Err(err).Int("batch", n).Int("pending", pending).Int("max_pending", s.cfg.Writer.MaxPending).
		Int("consecutive_failures", failures).
		Msg("STORE WRITE FAILED: records kept in memory (up to store.writer.max_pending) and retried; calls continue")
}

// failLogEvery spaces the reminders while the engine keeps failing.
const failLogEvery = time.Minute

// complete removes items (the head of the queue) and tells waiters; rejectErr is nil
// for a commit. It returns whether more records wait.
func (s *Store) complete(items []pendingItem, rejectErr error) bool {
	w := &s.w
	w.mu.Lock()
	n := len(items)
	if n > len(w.queue) || w.queue[0].seq != items[0].seq {
		// Cannot happen: only this goroutine removes from the queue.
		w.mu.Unlock()
		s.log.Error().Msg("store writer: queue head moved unexpectedly")
		return true
	}
	w.queue = w.queue[n:]
	if len(w.queue) == 0 {
		w.queue = nil // release the backing array
	}
	w.doneSeq = items[n-1].seq
	if rejectErr == nil {
		w.stats.Committed += uint64(n)
	} else {
		w.stats.Rejected += uint64(n)
	}
	recovered := w.failures
	if rejectErr == nil {
		w.failures = 0
		w.lastErr = nil
	}
	close(w.progress)
	w.progress = make(chan struct{})
	more := len(w.queue) > 0
	w.mu.Unlock()
	if recovered > 0 && rejectErr == nil {
		s.log.Warn().Int("failed_attempts", recovered).Msg("store writes succeed again")
	}
	for _, it := range items {
		if it.done != nil {
			it.done <- rejectErr
		}
	}
	return more
}

// commit applies the records in one transaction.
func (s *Store) commit(parent context.Context, batch []pendingItem) (err error) {
	ctx, cancel := context.WithTimeout(parent, s.cfg.Writer.WriteTimeout)
	defer cancel()
	s.purgeMu.Lock() // no purge while the cached contributions are used
	defer s.purgeMu.Unlock()
	if s.purged {
		s.contribs.reset()
		s.lastStates.reset()
		s.purged = false
	}
	s.contribs.rotate(s.now())
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			s.contribs.reset() // what this attempt read is gone with it
			s.lastStates.reset()
			if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
				err = errors.Join(err, rerr)
			}
		}
	}()
	for _, it := range batch {
		if err := s.apply(ctx, tx, it.rec); err != nil {
			return err
		}
		// A batch is milliseconds of CPU (SQLite and the rollups) and nothing in it
		// blocks, so without a yield the writer keeps its P until the scheduler
		// preempts it (10 ms): a call's goroutine woken meanwhile (an ARI event, an
		// HTTP answer, an offer) waits behind it whenever the other Ps are busy too.
		// Yielding after each record bounds that wait to one record's work; it
		// costs nothing when no other goroutine is runnable.
		runtime.Gosched()
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.prepareNoted(ctx)
	return nil
}

// batchFull reports whether a whole batch is waiting (it is committed at once).
func (s *Store) batchFull() bool {
	s.w.mu.Lock()
	defer s.w.mu.Unlock()
	return len(s.w.queue) >= s.cfg.Writer.BatchSize
}
