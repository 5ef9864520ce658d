package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/campaigns"
	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/softphone"
	"github.com/ctid/ctid/softphone/console"
	"github.com/ctid/ctid/telephony"
	"github.com/ctid/ctid/telephony/ariemu"
)

func newServeCmd(g *globalFlags, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "run the ctid daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fc, err := load(g, cmd)
			if err != nil {
				return err
			}
			log := newLogger(stderr, fc.Log.Format, fc.Log.Level)
			return serve(cmd.Context(), fc, log, nil)
		},
	}
}

// serveInfo tells tests what serve started.
type serveInfo struct {
	Addr net.Addr
	Emu  *ariemu.Emulator // nil unless asterisk.mode is emulator
	API  *desktop.Server
}

// started is called once ctid listens (tests use it to learn the ports).
type started func(serveInfo)

// serve runs ctid until ctx ends and then shuts down in order: stop accepting HTTP,
// finish in-flight requests, close ARI, stop the embedded emulator.
func serve(ctx context.Context, fc fileConfig, log zerolog.Logger, onStart started) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	ariCfg := fc.ariConfig()
	var emu *ariemu.Emulator
	var emuSrv *http.Server
	var emuErr chan error
	if fc.Asterisk.Mode == modeEmulator {
		user, pw := fc.Emulator.Username, fc.Emulator.Password
		if pw == "" {
			var err error
			if pw, err = randomSecret(); err != nil {
				return err
			}
		}
		var err error
		emu, err = ariemu.New(ariemu.Config{
			Users:       map[string]string{user: pw},
			DialplanApp: ariCfg.Application,
			RequestLog:  10000, // `make run` runs for hours: keep the newest requests only
			Logger:      log.With().Str("component", "emulator").Logger(),
		})
		if err != nil {
			return fmt.Errorf("start embedded emulator: %w", err)
		}
		defer func() {
			if cerr := emu.Close(); cerr != nil {
				log.Warn().Err(cerr).Msg("closing emulator")
			}
		}()
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", fc.Emulator.Listen)
		if err != nil {
			return fmt.Errorf("%w: emulator.listen: %s: %w", errConfig, fc.Emulator.Listen, err)
		}
		emuSrv = &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
		emuErr = make(chan error, 1)
		go func() { emuErr <- emuSrv.Serve(ln) }()
		ariCfg.URL = "http://" + ln.Addr().String() + "/ari"
		ariCfg.WebSocketURL = ""
		ariCfg.Username, ariCfg.Password = user, pw
		log.Info().Str("ari_url", ariCfg.URL).Msg("embedded ARI emulator started (asterisk.mode: emulator)")
	}

	ari, err := telephony.New(ariCfg, log)
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	defer ari.Close()

	st, err := store.Open(ctx, fc.Store, log.With().Str("component", "store").Logger())
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	defer func() {
		if cerr := st.Close(); cerr != nil {
			log.Error().Err(cerr).Msg("closing the store")
		}
	}()

	qc, err := fc.queueConfig()
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	engine, err := queue.NewEngine(qc)
	if err != nil {
		return fmt.Errorf("%w: queues: %w", errConfig, err)
	}
	var gw *softphone.Gateway
	media := cti.NewAgentMedia()
	if fc.Softphone.Enabled {
		if gw, err = softphone.NewGateway(fc.softphoneConfig(), log.With().Str("component", "softphone").Logger()); err != nil {
			return fmt.Errorf("%w: %w", errConfig, err)
		}
		defer func() {
			if cerr := gw.Close(); cerr != nil {
				log.Warn().Err(cerr).Msg("closing the softphone gateway")
			}
		}()
	}
	dnc, err := campaigns.LoadDNC(ctx, st)
	if err != nil {
		return err
	}
	// Outbound campaigns: definitions, contacts and attempts in the store, every dial
	// through the do-not-call lists.
	storeCamps, err := cti.NewStoreCampaigns(cti.StoreCampaignsParams{Store: st, DNC: dnc,
		DefaultRegion: strings.ToUpper(fc.Calls.DefaultRegion), Log: log.With().Str("component", "campaigns").Logger()})
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	params := cti.Params{Config: fc.callsConfig(), Log: log, ARI: ari, Engine: engine, Records: st,
		Contacts: storeCamps, Attempts: storeCamps}
	if gw != nil {
		params.Media = media
	}
	orch, err := cti.New(params)
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	desk, err := cti.NewDesk(cti.DeskParams{Orchestrator: orch, Audit: st.Audit, Gateway: gw, Media: media, Log: log.With().Str("component", "desktop").Logger()})
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	api, err := desktop.NewServer(fc.Desktop, desk, log.With().Str("component", "desktop").Logger())
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if cerr := api.Shutdown(sctx); cerr != nil {
			log.Warn().Err(cerr).Msg("closing desktop sockets")
		}
	}()
	if err := loadUsers(ctx, st, api, fc.Desktop.Auth.Users, log.With().Str("component", "desktop").Logger()); err != nil {
		return err
	}
	api.SetUserStore(userStore{st: st})
	// Logins outlive a restart: a console whose ctid crashed reconnects by itself.
	if err := api.SetTokenStore(ctx, tokenStore{st: st}); err != nil {
		log.Error().Err(err).Msg("desktops must sign in again: their logins could not be read from the store")
	}
	orch.SetDisplayNames(displayNamesOf(api))
	if err := orch.RegisterREST(api); err != nil {
		return fmt.Errorf("desktop routes: %w", err)
	}
	orch.SetCampaignCatalog(storeCamps)
	if params.Config.ExternalEndpoint != "" { // call.dial without campaign_id
		if err := orch.EnableManualDial(storeCamps.ManualCheck); err != nil {
			return fmt.Errorf("%w: %w", errConfig, err)
		}
	}
	if err := desk.RegisterCampaignREST(api); err != nil {
		return fmt.Errorf("campaign routes: %w", err)
	}
	// calls.default_region also reads DNC numbers given without a country code.
	campaignAPI, err := campaigns.NewAPI(campaigns.Params{Store: st, DNC: dnc, Audit: st.Audit,
		Config: campaigns.Config{DefaultRegion: strings.ToUpper(fc.Calls.DefaultRegion)},
		Log:    log.With().Str("component", "campaigns").Logger()})
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	if err := campaignAPI.Register(api); err != nil {
		return fmt.Errorf("campaign routes: %w", err)
	}
	orch.SetNotifier(api)
	desk.SetNotifier(api)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if gw != nil {
		reg.MustRegister(softphone.NewCollector(gw))
	}
	registerARIMetrics(reg, ari)
	reg.MustRegister(st.Collector()) // ctid_store_pending_records, ctid_store_write_failures_total, ...
	rpt, err := wireReports(fc, st, api, orch, reg, log)
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}

	srv, err := cti.NewServer(cti.ServerParams{
		Config:   fc.serverConfig(),
		Log:      log,
		Gatherer: reg,
		Ready: map[string]cti.ReadyFunc{
			"ari": func() (bool, string) {
				if ari.Ready() {
					return true, ""
				}
				s := ari.Stats()
				if s.LastError != "" {
					return false, s.LastError
				}
				return false, "connecting"
			},
			"store": st.Ready,
			// Desktops connecting before it would not see their restored calls yet.
			"takeover": func() (bool, string) {
				select {
				case <-orch.TakeOverDone():
					return true, ""
				default:
					return false, "taking over the calls of an earlier run"
				}
			},
		},
		Mount: func(mux *http.ServeMux) {
			rpt.mount(mux) // the desktop API, timed
			mountSupervisor(mux)
		},
		Pages: console.AgentHandler(),
	})
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() {
		if err := ari.Run(ctx); err != nil {
			errs <- fmt.Errorf("ari: %w", err)
		}
	})
	wg.Go(func() { rpt.run(ctx) })
	wg.Go(func() {
		if err := orch.Run(ctx); err != nil {
			errs <- fmt.Errorf("orchestrator: %w", err)
		}
	})
	if err := startDemo(ctx, &wg, fc, log, emu, orch); err != nil {
		cancel()
		wg.Wait()
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	wg.Go(func() { // campaigns running or paused when ctid stopped
		if err := orch.ResumeCampaigns(ctx); err != nil && ctx.Err() == nil {
			log.Error().Err(err).Msg("resuming campaigns")
		}
	})
	if fc.Store.Driver == store.DriverPostgres { // other nodes may add DNC entries
		wg.Go(func() {
			dnc.Run(ctx, time.Minute, func(err error) {
				log.Error().Err(err).Msg("reloading the do-not-call lists failed; the current lists stay in force")
			})
		})
	}
	wg.Go(func() {
		err := srv.Serve(ctx, func(a net.Addr) {
			scheme := "http"
			if fc.Server.TLS.CertFile != "" {
				scheme = "https"
			}
			log.Info().Str("url", scheme+"://"+a.String()+"/").Str("version", version).Msg("ctid listening")
			demoBanner(log, fc, scheme+"://"+a.String())
			if onStart != nil {
				onStart(serveInfo{Addr: a, Emu: emu, API: api})
			}
		})
		if err != nil {
			errs <- err
		}
	})

	var runErr error
	select {
	case <-ctx.Done():
		log.Info().Msg("shutting down")
	case runErr = <-errs:
		log.Error().Err(runErr).Msg("fatal error; shutting down")
	case err := <-emuErr:
		runErr = fmt.Errorf("embedded emulator: %w", err)
	}
	cancel()
	wg.Wait()
	if emuSrv != nil {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		if err := emuSrv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn().Err(err).Msg("emulator shutdown")
		}
	}
	log.Info().Msg("stopped")
	return runErr
}

func registerARIMetrics(reg prometheus.Registerer, ari *telephony.Client) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ctid_ari_connected", Help: "1 while the ARI events WebSocket is connected."},
			func() float64 {
				if ari.Ready() {
					return 1
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ctid_ari_reconnects_total", Help: "ARI reconnections after the first connection."},
			func() float64 { return float64(ari.Stats().Reconnects) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ctid_ari_events_received_total", Help: "ARI events decoded."},
			func() float64 { return float64(ari.Stats().Received) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ctid_ari_events_ignored_total", Help: "ARI frames ignored: unknown type or malformed.", ConstLabels: prometheus.Labels{"reason": "unknown"}},
			func() float64 { return float64(ari.Stats().Unknown) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ctid_ari_events_ignored_total", Help: "ARI frames ignored: unknown type or malformed.", ConstLabels: prometheus.Labels{"reason": "malformed"}},
			func() float64 { return float64(ari.Stats().Malformed) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ctid_ari_events_queued", Help: "ARI events received but not yet handled."},
			func() float64 { return float64(ari.Stats().Queued) }),
	)
}

func randomSecret() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}
