package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/demo"
	"github.com/ctid/ctid/softphone/console"
	"github.com/ctid/ctid/telephony/ariemu"
)

// wallboardSection is `wallboard:` (the live supervisor wallboard).
type wallboardSection struct {
	Every     time.Duration `mapstructure:"every"`     // refresh period of queue.stats
	Heartbeat time.Duration `mapstructure:"heartbeat"` // unchanged stats re-sent this often
	Interval  time.Duration `mapstructure:"interval"`  // history interval (15m)
	History   time.Duration `mapstructure:"history"`   // history kept in memory
	SLFormula string        `mapstructure:"sl_formula"`
}

func defaultWallboardSection() wallboardSection {
	d := cti.DefaultWallboardConfig()
	return wallboardSection{Every: d.Every, Heartbeat: d.Heartbeat, Interval: d.Interval, History: d.History, SLFormula: d.Formula.String()}
}

// wallboardConfig builds the wallboard's config from `wallboard:` and each queue's
// sl_formula and service_level.
func (fc fileConfig) wallboardConfig() (cti.WallboardConfig, error) {
	w := fc.Wallboard
	c := cti.WallboardConfig{Every: w.Every, Heartbeat: w.Heartbeat, Interval: w.Interval, History: w.History}
	f, err := cti.ParseSLFormula(w.SLFormula)
	if err != nil {
		return c, fmt.Errorf("wallboard.sl_formula: %w", err)
	}
	c.Formula = f
	for i, q := range fc.Queues {
		qf := f
		if q.SLFormula != "" {
			if qf, err = cti.ParseSLFormula(q.SLFormula); err != nil {
				return c, fmt.Errorf("queues[%d].sl_formula: %w", i, err)
			}
		}
		c.Queues = append(c.Queues, cti.WallboardQueue{Queue: q.ID, Formula: qf, Threshold: q.ServiceLevel})
	}
	return c, c.Validate()
}

// validateDemo: demo traffic needs the embedded emulator, and each bot must be an
// agent with a device the emulator answers (not the browser softphone).
func (fc fileConfig) validateDemo() error {
	if !fc.Demo.Traffic {
		return nil
	}
	if fc.Asterisk.Mode != modeEmulator {
		return fmt.Errorf("demo.traffic: true: only valid with asterisk.mode: emulator (it injects simulated callers); set it to false for %s", fc.Asterisk.Mode)
	}
	if err := fc.Demo.Validate(); err != nil {
		return err
	}
	for i, b := range fc.Demo.Bots {
		j := slices.IndexFunc(fc.Agents, func(a agentSection) bool { return a.ID == b })
		if j < 0 {
			return fmt.Errorf("demo.bots[%d]: %q: no such agent in agents:", i, b)
		}
		if d := fc.Agents[j].Device; d == "" || d == cti.DeviceWebRTC {
			return fmt.Errorf("demo.bots[%d]: %q: a bot needs a device the emulator answers, e.g. agents[%d].device: PJSIP/%s", i, b, j, b)
		}
	}
	for i, q := range fc.Demo.Queues {
		if !slices.ContainsFunc(fc.Queues, func(s queueSection) bool { return s.ID == q }) {
			return fmt.Errorf("demo.queues[%d]: %q: no such queue in queues:", i, q)
		}
	}
	return nil
}

// mountSupervisor serves the supervisor wallboard page (/supervisor).
func mountSupervisor(mux *http.ServeMux) {
	h := console.SupervisorHandler()
	for _, p := range console.SupervisorPaths() {
		mux.Handle("GET "+p, h)
	}
}

// startDemo runs the demo traffic (demo.traffic, emulator mode) until ctx ends.
func startDemo(ctx context.Context, wg *sync.WaitGroup, fc fileConfig, log zerolog.Logger, emu *ariemu.Emulator, orch *cti.Orchestrator) error {
	if !fc.Demo.Traffic || emu == nil {
		return nil
	}
	d, err := demo.New(demo.Params{Config: fc.Demo, Log: log, Callers: emu, Agents: orch})
	if err != nil {
		return err
	}
	wg.Go(func() {
		if err := d.Run(ctx); err != nil {
			log.Error().Err(err).Msg("demo traffic stopped")
		}
	})
	return nil
}

// demoBanner tells a newcomer where to go: the agent console, the wallboard and the
// demo logins.
func demoBanner(log zerolog.Logger, fc fileConfig, base string) {
	log.Info().Str("url", base+"/").Msg("agent console")
	log.Info().Str("url", base+"/supervisor").Msg("supervisor wallboard")
	if !fc.Demo.Traffic {
		return
	}
	for _, l := range fc.Demo.Logins {
		log.Info().Str("login", l).Msg("demo login")
	}
	log.Info().Strs("bots", fc.Demo.Bots).Dur("every", fc.Demo.Every).Msg("demo traffic: callers arrive every few seconds; go Ready in the console for a screen-pop")
}
