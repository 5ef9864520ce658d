package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ctid/ctid/telephony"
)

var errCheckFailed = errors.New("check failed")

func newCheckCmd(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "validate the configuration and the wiring to Asterisk (exit 1 on any failure)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fc, err := load(g, cmd)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "PASS  configuration %s\n", sourceName(g.config))
			if fc.Asterisk.Mode == modeEmulator {
				fmt.Fprintln(stdout, "PASS  asterisk.mode is emulator: ctid serve runs its own ARI emulator; nothing to connect to")
				return nil
			}
			log := newLogger(stderr, fc.Log.Format, "error")
			ari, err := telephony.New(fc.ariConfig(), log)
			if err != nil {
				return fmt.Errorf("%w: %w", errConfig, err)
			}
			defer ari.Close()
			failed := 0
			for _, r := range ari.Check(cmd.Context()) {
				mark := "PASS"
				if !r.OK {
					mark = "FAIL"
					failed++
				}
				fmt.Fprintf(stdout, "%s  %s: %s\n", mark, r.Name, r.Detail)
			}
			if failed > 0 {
				fmt.Fprintf(stdout, "%d check(s) failed\n", failed)
				return errCheckFailed
			}
			fmt.Fprintln(stdout, "all checks passed")
			return nil
		},
	}
}
