package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// crashInteraction is what the child saves durably before it is killed.
func crashInteraction(id string) Interaction {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	return Interaction{
		ID: id, CallID: "chan-" + id, Direction: Inbound, Queue: "sales", CallerNumber: "+441632960001",
		Created: t0, Queued: t0.Add(time.Second), Answered: t0.Add(20 * time.Second), Ended: t0.Add(200 * time.Second),
		Outcome: "answered", Disposition: "sale", Notes: "told it is saved",
		Segments: []Segment{
			{Kind: SegQueued, Start: t0.Add(time.Second), End: t0.Add(15 * time.Second)},
			{Kind: SegRinging, Agent: "alice", Start: t0.Add(15 * time.Second), End: t0.Add(20 * time.Second)},
			{Kind: SegTalking, Agent: "alice", Start: t0.Add(20 * time.Second), End: t0.Add(200 * time.Second)},
		},
	}
}

// crashChild runs in the re-executed test binary: it saves durably, says so, and
// waits to be killed.
func crashChild() int {
	cfg := testConfig()
	cfg.Driver, cfg.Path, cfg.DSN = os.Getenv(envDriver), os.Getenv(envPath), os.Getenv(envDSN)
	// A long flush interval: only the durable path can have committed the record.
	cfg.Writer.FlushInterval = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Open(ctx, cfg, zerolog.Nop())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 2
	}
	id := os.Getenv(envID)
	// Queued but never synced: may or may not survive; the test does not count on it.
	if err := s.Audit(AuditEntry{Actor: "child", Action: "noise"}); err != nil {
		fmt.Fprintln(os.Stderr, "child audit:", err)
		return 2
	}
	if err := s.SaveDurable(ctx, crashInteraction(id)); err != nil {
		fmt.Fprintln(os.Stderr, "child save:", err)
		return 2
	}
	if err := s.UpsertUser(ctx, User{Username: "u-" + id, Role: RoleSupervisor, PasswordHash: "$argon2id$x", Teams: []string{"blue"}}); err != nil {
		fmt.Fprintln(os.Stderr, "child user:", err)
		return 2
	}
	fmt.Println("saved")
	<-ctx.Done() // killed long before this
	return 3
}

// TestDurableSaveSurvivesKill9: a child process saves durably, prints "saved" and is
// SIGKILLed at once; the record is there when the store is reopened.
func TestDurableSaveSurvivesKill9(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		id := "crash-" + e.name
		cmd := childCommand(t, os.Args[0], "crash", envDriver+"="+cfg.Driver, envPath+"="+cfg.Path,
			envDSN+"="+cfg.DSN, envID+"="+id)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, readErr := bufio.NewReader(stdout).ReadString('\n')
		killErr := cmd.Process.Kill() // SIGKILL, the moment after "saved"
		waitErr := cmd.Wait()
		if readErr != nil || strings.TrimSpace(line) != "saved" {
			t.Fatalf("child did not report saved: line %q, read %v, wait %v, stderr: %s", line, readErr, waitErr, cmd.Stderr)
		}
		if killErr != nil {
			t.Fatalf("kill: %v", killErr)
		}
		if waitErr == nil || !strings.Contains(waitErr.Error(), "killed") {
			t.Fatalf("child was not killed by SIGKILL: %v", waitErr)
		}

		s := mustOpen(t, cfg)
		ctx := testCtx(t)
		got, err := s.Interaction(ctx, id)
		if err != nil {
			t.Fatalf("after kill -9: %v", err)
		}
		want := crashInteraction(id)
		want.RecordingName = ""
		for i := range want.Segments {
			want.Segments[i].InteractionID, want.Segments[i].Seq = id, i+1
		}
		assertInteraction(t, want, got)
		u, err := s.User(ctx, "u-"+id)
		if err != nil || u.Role != RoleSupervisor || len(u.Teams) != 1 || u.Teams[0] != "blue" {
			t.Fatalf("user after kill -9: %+v, %v", u, err)
		}
	})
}
