package dialer

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ctid/ctid/queue"
)

// TestRandomCampaignInvariants drives predictive and progressive campaigns with
// random loads, outcomes, connects, dispositions and callbacks over three zones, and
// checks after every step: no dial outside the number's window, no DNC number, no
// locked-out number on a pooled line, no contact on two lines, attempt caps, and that
// every contact is accounted for exactly once (done + pending + in progress).
func TestRandomCampaignInvariants(t *testing.T) {
	zones := []string{"America/New_York", "Europe/London", "Asia/Tokyo"}
	for _, mode := range []Mode{Predictive, Progressive} {
		for seed := uint64(1); seed <= 3; seed++ {
			r := rand.New(rand.NewPCG(seed, uint64(mode)))
			national := map[string]bool{}
			var cs []Contact
			for i := 0; i < 300; i++ {
				n1, n2 := "+1212"+itoa(5000000+2*i), "+1212"+itoa(5000001+2*i)
				if i%17 == 0 {
					national[n1] = true
				}
				cs = append(cs, Contact{ID: ContactID("k" + itoa(i)), Numbers: []string{n1, n2}, Zone: zones[i%3]})
			}
			d := newDialer(t, Config{Mode: mode, Windows: weekdays9to21, MaxLines: 60, MaxAttemptsPerNumber: 2, MaxAttemptsPerContact: 3,
				IsDNC: func(n string) bool { return national[n] }, Retry: RetryRules{Busy: Retry{After: 3 * time.Minute}, NoAnswer: Retry{After: 20 * time.Minute}}}, cs...)
			locs := map[string]*time.Location{}
			for _, z := range zones {
				locs[z] = mustLoc(t, z)
			}
			type line struct {
				dl       Dial
				answered bool
				agent    queue.AgentID
				conn     bool
			}
			live := map[AttemptID]*line{}
			byContact := map[ContactID]AttemptID{}
			campaignDNC := map[string]bool{}
			lockedUntil := map[string]time.Time{}
			perNumber := map[string]int{}
			perContact := map[ContactID]int{}
			busyAgents := map[queue.AgentID]bool{}
			now := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC) // across the US DST change
			end := now.Add(5 * 24 * time.Hour)
			dropLine := func(l *line) {
				delete(live, l.dl.Attempt)
				delete(byContact, l.dl.Contact)
				if l.agent != "" {
					delete(busyAgents, l.agent)
				}
			}
			for step := 0; now.Before(end); step++ {
				now = now.Add(time.Duration(r.IntN(90)+1) * time.Second)
				if r.IntN(50) == 0 {
					now = now.Add(time.Duration(r.IntN(4)) * time.Hour)
				}
				var fr []queue.AgentID
				for i := 0; i < 8; i++ {
					a := queue.AgentID("a" + itoa(i))
					if !busyAgents[a] && r.IntN(3) > 0 {
						fr = append(fr, a)
					}
				}
				pl := d.Plan(now, Load{Free: fr, LikelyFree: len(fr) + r.IntN(3)})
				for _, dl := range pl.Dials {
					l := now.In(locs[dl.Zone])
					if l.Weekday() == time.Saturday || l.Weekday() == time.Sunday || l.Hour() < 9 || l.Hour() >= 21 {
						t.Fatalf("%s seed %d: dialled %s at %s local", mode, seed, dl.Number, l)
					}
					if national[dl.Number] || campaignDNC[dl.Number] {
						t.Fatalf("%s seed %d: dialled DNC %s", mode, seed, dl.Number)
					}
					if dl.Agent == "" && lockedUntil[dl.Number].After(now) {
						t.Fatalf("%s seed %d: pooled line to locked-out %s", mode, seed, dl.Number)
					}
					if _, dup := byContact[dl.Contact]; dup {
						t.Fatalf("%s seed %d: contact %s on two lines", mode, seed, dl.Contact)
					}
					perNumber[dl.Number]++
					perContact[dl.Contact]++
					if perNumber[dl.Number] > 2 || perContact[dl.Contact] > 3 {
						t.Fatalf("%s seed %d: attempt caps broken for %s", mode, seed, dl.Contact)
					}
					if dl.Agent != "" {
						if busyAgents[dl.Agent] {
							t.Fatalf("%s seed %d: agent %s reserved twice", mode, seed, dl.Agent)
						}
						busyAgents[dl.Agent] = true
					}
					ln := &line{dl: dl, agent: dl.Agent}
					live[dl.Attempt] = ln
					byContact[dl.Contact] = dl.Attempt
				}
				for _, eff := range d.Tick(now) {
					if eff.Kind == EffSafeHarbour {
						lockedUntil[eff.Number] = now.Add(72 * time.Hour)
						dropLine(live[eff.Attempt])
					}
				}
				// resolve some lines, in map order made deterministic by attempt id order
				for _, id := range sortedIDs(live) {
					ln := live[id]
					switch {
					case !ln.answered && r.IntN(4) == 0:
						o := Outcome(r.IntN(int(Invalid) + 1))
						eff, err := d.Result(now, id, o)
						if err != nil {
							t.Fatal(err)
						}
						if o != Human {
							dropLine(ln)
							continue
						}
						ln.answered = true
						if eff.Kind == EffFindAgent {
							for i := 0; i < 8 && r.IntN(2) == 0; i++ {
								a := queue.AgentID("a" + itoa(i))
								if !busyAgents[a] {
									ln.agent = a
									busyAgents[a] = true
									break
								}
							}
						}
						if ln.agent != "" {
							if err := d.Connected(now, id, ln.agent); err != nil {
								t.Fatal(err)
							}
							ln.conn = true
						}
					case ln.conn && r.IntN(5) == 0:
						codes := []string{"sale", "not_interested", "no_decision", "wrong_number", "do_not_call", "callback"}
						code := codes[r.IntN(len(codes))]
						cb := CallbackRequest{}
						if code == "callback" {
							cb.At = now.Add(26 * time.Hour)
							if !InWindow(weekdays9to21, cb.At, locs[ln.dl.Zone]) {
								code = "not_interested"
							} else if r.IntN(2) == 0 {
								cb.Agent = ln.agent
							}
						}
						if code == "do_not_call" {
							campaignDNC[ln.dl.Number] = true
						}
						if _, err := d.Disposition(now, id, code, cb); err != nil {
							t.Fatal(err)
						}
						dropLine(ln)
					}
				}
				st := d.Stats(now)
				if st.Done+st.Pending+st.InProgress != st.Contacts || st.InProgress != len(live) {
					t.Fatalf("%s seed %d step %d: done %d + pending %d + in progress %d != %d contacts (live %d)",
						mode, seed, step, st.Done, st.Pending, st.InProgress, st.Contacts, len(live))
				}
			}
			st := d.Stats(end)
			t.Logf("%s seed %d: %d dials, %d humans, %d abandons, %d sales, %d callbacks, %d done, %d pending", mode, seed,
				st.Dials, st.Humans, st.Abandons, st.Sales, st.Callbacks, st.Done, st.Pending)
			if st.Dials < 300 || st.Humans == 0 || st.Sales == 0 || st.Callbacks == 0 || st.Done == 0 {
				t.Fatalf("%s seed %d: the run exercised too little: %+v", mode, seed, st)
			}
			if mode == Predictive && st.Abandons == 0 {
				t.Fatalf("seed %d: no safe-harbour abandon exercised", seed)
			}
		}
	}
}

func sortedIDs[V any](m map[AttemptID]V) []AttemptID {
	out := make([]AttemptID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	// attempt ids are "c1-<seq>": sort by length then lexically = by seq
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && (len(out[j]) < len(out[j-1]) || (len(out[j]) == len(out[j-1]) && out[j] < out[j-1])); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
