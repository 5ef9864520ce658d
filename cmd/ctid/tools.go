package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/queue/dialer"
)

// newUserCmd: `ctid user add` prints a users: entry with a bcrypt hash of the
// password read from standard input (never from a flag, so it stays out of shell
// history and process lists).
func newUserCmd(stdout io.Writer) *cobra.Command {
	user := &cobra.Command{Use: "user", Short: "manage desktop users"}
	var name, display, role string
	var teams []string
	var cost int
	add := &cobra.Command{
		Use:   "add --username NAME --role agent|supervisor|admin",
		Short: "hash a password (read from stdin) and print the desktop.auth.users entry to paste into ctid.yaml",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			stdin := cmd.InOrStdin()
			if _, err := desktop.ParseRole(role); err != nil {
				return fmt.Errorf("%w: --role: %q: must be agent, supervisor or admin", errConfig, role)
			}
			if name == "" {
				return fmt.Errorf("%w: --username is required", errConfig)
			}
			if f, ok := stdin.(*os.File); ok && isTerminal(f) {
				fmt.Fprint(os.Stderr, "password: ")
			}
			line, err := bufio.NewReader(stdin).ReadString('\n')
			if err != nil && err != io.EOF {
				return fmt.Errorf("read password: %w", err)
			}
			pw := strings.TrimRight(line, "\r\n")
			if len(pw) < 8 {
				return fmt.Errorf("%w: password must have at least 8 characters", errConfig)
			}
			hash, err := desktop.HashPassword(pw, cost)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "      - username: %s\n", name)
			if display != "" {
				fmt.Fprintf(stdout, "        display_name: %q\n", display)
			}
			fmt.Fprintf(stdout, "        role: %s\n", role)
			if len(teams) > 0 {
				fmt.Fprintf(stdout, "        teams: [%s]\n", strings.Join(teams, ", "))
			}
			fmt.Fprintf(stdout, "        password_hash: %q\n", hash)
			return nil
		},
	}
	add.Flags().StringVar(&name, "username", "", "login name")
	add.Flags().StringVar(&display, "display-name", "", "name shown on desktops")
	add.Flags().StringVar(&role, "role", "agent", "agent, supervisor or admin")
	add.Flags().StringSliceVar(&teams, "teams", nil, "teams or queues a supervisor acts on")
	add.Flags().IntVar(&cost, "cost", 12, "bcrypt cost")
	user.AddCommand(add)
	return user
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newSimCmd: `ctid sim dialer` runs the real pacing code on a simulated clock.
func newSimCmd(stdout io.Writer) *cobra.Command {
	sim := &cobra.Command{Use: "sim", Short: "simulations on a virtual clock"}
	var cfg dialer.SimConfig
	var hours float64
	d := &cobra.Command{
		Use:   "dialer",
		Short: "run the outbound pacing (preview, progressive, predictive) against a synthetic population and print the results",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if hours <= 0 || hours > 24 {
				return fmt.Errorf("%w: --hours: %v: must be in (0, 24]", errConfig, hours)
			}
			cfg.Duration = time.Duration(hours * float64(time.Hour))
			return dialer.RunSim(stdout, cfg)
		},
	}
	d.Flags().IntVar(&cfg.Agents, "agents", 100, "agents logged in")
	d.Flags().Float64Var(&hours, "hours", 4, "simulated logged hours per mode")
	d.Flags().Float64Var(&cfg.ConnectRate, "connect-rate", 0.15, "share of dials answered by a person")
	d.Flags().Uint64Var(&cfg.Seed, "seed", 1, "random seed (the run is deterministic)")
	sim.AddCommand(d)
	return sim
}
