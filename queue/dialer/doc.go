// Package dialer is ctid's outbound campaign logic: the campaign model (mode,
// lifecycle, calling windows, retry rules, dispositions, abandon limit, 2-second rule),
// contact selection, pacing (preview, progressive, predictive) and outcome handling,
// plus a simulator that runs the real pacing code and the real ACD engine
// (package queue) on a simulated clock. The model is written up in docs/DIALER.md.
//
// Like package queue it is pure: no I/O, no goroutines, no wall clock. Every method
// takes now and returns decisions. A *Dialer is single-goroutine: drive it from the
// goroutine that owns the engine (e.g. inside queue.Loop.Do), one Dialer per campaign.
//
// # Driving a campaign (the orchestrator's loop)
//
//	d, err := dialer.New(dialer.Config{ID: "c1", Mode: dialer.Predictive, ...}) // defaults + Validate
//	err = d.AddContacts(contacts)                  // all or nothing; numbers already E.164
//	err = d.Apply(dialer.InStart)                  // draft → running (InPause/InResume/InFinish/InStop)
//
//	every second and whenever an agent frees up:
//	  load := dialer.LoadFromEngine(engine, now, "c1", d.Horizon())
//	  plan := d.Plan(now, load)                    // plan.Dials: originate each (Agent != "": engine.DialerReserve first)
//	  effs := d.Tick(now)                          // EffSafeHarbour / EffHangup / EffAutoDial
//	on the line's fate:
//	  eff, err := d.Result(now, attempt, dialer.Human|Machine|Busy|NoAnswer|Congestion|Rejected|Invalid)
//	    EffConnect: bridge eff.Agent now;  EffFindAgent: bridge any free agent before eff.Deadline
//	    EffRetry / EffDone with eff.Agent set: engine.DialerRelease
//	  err = d.Connected(now, attempt, agent)       // ErrTooLate after SafeHarbour: play safe harbour instead
//	  eff, err = d.Disposition(now, attempt, code, dialer.CallbackRequest{At, Agent}) // at wrapup.done
//	preview mode: d.Preview(now, agent) → d.PreviewDial(now, attempt) or d.Skip(now, attempt)
//
// Errors wrap the sentinels in errors.go; invalid lifecycle inputs are *TransitionError.
//
// # Simulator
//
//	r := dialer.Simulate(dialer.SimConfig{Agents: 100, Seed: 1})  // deterministic per seed
//	err := dialer.RunSim(os.Stdout, cfg)                          // prints the table (ctid sim dialer)
package dialer
