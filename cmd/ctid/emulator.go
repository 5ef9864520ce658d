package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/ctid/ctid/telephony/ariemu"
)

func newEmulatorCmd(g *globalFlags, stderr io.Writer) *cobra.Command {
	var listen, user, password, app, cpuProfile string
	cmd := &cobra.Command{
		Use:   "emulator",
		Short: "run the ARI emulator standalone (an Asterisk stand-in for tests and demos)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if user == "" || password == "" {
				return fmt.Errorf("%w: --user and --password are required", errConfig)
			}
			if _, _, err := net.SplitHostPort(listen); err != nil {
				return fmt.Errorf("%w: --listen: %q: must be host:port", errConfig, listen)
			}
			format := g.logFormat
			if format == "" {
				format = "json"
			}
			level := g.logLevel
			if level == "" {
				level = "info"
			}
			log := newLogger(stderr, format, level)
			if cpuProfile != "" { // for benchmarks: where the emulator's CPU goes
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer func() {
					if err := stop(); err != nil {
						log.Warn().Err(err).Msg("writing the CPU profile")
					}
				}()
			}
			emu, err := ariemu.New(ariemu.Config{
				Users:       map[string]string{user: password},
				DialplanApp: app,
				RequestLog:  10000, // a long-running emulator keeps the newest requests only
				Logger:      log,
			})
			if err != nil {
				return fmt.Errorf("%w: %w", errConfig, err)
			}
			defer func() {
				if cerr := emu.Close(); cerr != nil {
					log.Warn().Err(cerr).Msg("closing emulator")
				}
			}()
			ln, err := (&net.ListenConfig{}).Listen(cmd.Context(), "tcp", listen)
			if err != nil {
				return fmt.Errorf("listen %s: %w", listen, err)
			}
			srv := &http.Server{Handler: emu, ReadHeaderTimeout: 10 * time.Second}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			log.Info().Str("ari_url", "http://"+ln.Addr().String()+"/ari").Str("user", user).Str("app", app).
				Msg("ARI emulator listening")
			select {
			case err := <-errc:
				return fmt.Errorf("emulator: %w", err)
			case <-cmd.Context().Done():
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("emulator shutdown: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8088", "address to serve ARI on")
	cmd.Flags().StringVar(&user, "user", "", "ARI username")
	cmd.Flags().StringVar(&password, "password", "", "ARI password")
	cmd.Flags().StringVar(&app, "app", "ctid", "Stasis application that simulated inbound calls enter")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the emulator to this file until it stops (for benchmarks)")
	return cmd
}

// startCPUProfile starts a CPU profile into path; stop ends it and closes the file.
func startCPUProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return nil, errors.Join(fmt.Errorf("--cpuprofile: %w", err), f.Close())
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}
