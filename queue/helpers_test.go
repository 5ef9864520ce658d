package queue

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

// t0 is Monday 2026-03-02 09:00 UTC.
var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func mustEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := NewEngine(cfg)
	if err != nil {
		t.Fatalf("NewEngine: %v", err)
	}
	return e
}

// must(t)(e.Method(...)) fails the test on error and returns a copy of the decisions.
func must(t testing.TB) func([]Decision, error) []Decision {
	return func(ds []Decision, err error) []Decision {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return slices.Clone(ds)
	}
}

func mustErr(t testing.TB, target error, _ []Decision, err error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

func ofKind(ds []Decision, k DecisionKind) []Decision {
	var out []Decision
	for _, d := range ds {
		if d.Kind == k {
			out = append(out, d)
		}
	}
	return out
}

// offers renders the offers in ds as "call>agent".
func offers(ds []Decision) []string {
	var out []string
	for _, d := range ds {
		if o, ok := d.AsOfferCall(); ok {
			out = append(out, fmt.Sprintf("%s>%s", o.Call, o.Agent))
		}
	}
	return out
}

func agentsN(n int, skills SkillLevels) []AgentConfig {
	var out []AgentConfig
	for i := 1; i <= n; i++ {
		out = append(out, AgentConfig{ID: AgentID(fmt.Sprintf("a%d", i)), Skills: skills})
	}
	return out
}

func members(ids ...string) []Member {
	var out []Member
	for _, id := range ids {
		out = append(out, Member{Agent: AgentID(id)})
	}
	return out
}

func loginReady(t testing.TB, e *Engine, now time.Time, ids ...string) []Decision {
	t.Helper()
	var all []Decision
	for _, id := range ids {
		must(t)(e.AgentLogin(now, AgentID(id)))
		all = append(all, must(t)(e.AgentReady(now, AgentID(id)))...)
	}
	return all
}

func state(t testing.TB, e *Engine, id string) AgentState {
	t.Helper()
	a, ok := e.agents[AgentID(id)]
	if !ok {
		t.Fatalf("no agent %s", id)
	}
	return a.state
}

func eq[T any](t testing.TB, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}
