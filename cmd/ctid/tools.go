package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue/dialer"
)

// newUserCmd: `ctid user add [--config F] NAME --role R` writes a desktop user with
// a bcrypt hash of the password read from standard input (never from a flag, so it
// stays out of shell history and process lists) to the configured store, where
// ctid loads it at start; with --print it prints the desktop.auth.users entry to
// paste into ctid.yaml instead.
func newUserCmd(g *globalFlags, stdout io.Writer) *cobra.Command {
	user := &cobra.Command{Use: "user", Short: "manage desktop users"}
	var name, display, role, agentID string
	var teams []string
	var cost int
	var printOnly bool
	add := &cobra.Command{
		Use:   "add USERNAME --role agent|supervisor|admin [--agent-id ID] [--config F | --print]",
		Short: "add a desktop user (password read from stdin) to the configured store, or print its ctid.yaml entry (--print)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if name != "" && name != args[0] {
					return fmt.Errorf("%w: username given twice (%q and --username %q)", errConfig, args[0], name)
				}
				name = args[0]
			}
			if _, err := desktop.ParseRole(role); err != nil {
				return fmt.Errorf("%w: --role: %q: must be agent, supervisor or admin", errConfig, role)
			}
			if name == "" {
				return fmt.Errorf("%w: a username is required", errConfig)
			}
			if agentID != "" && agentID != name {
				return fmt.Errorf("%w: --agent-id: %q: ctid signs agents in by their login name, so it must be the username %q", errConfig, agentID, name)
			}
			var fc fileConfig
			if !printOnly {
				var err error
				if fc, err = load(g, cmd); err != nil {
					return err
				}
				if err := checkNewUser(fc, name, role, agentID != ""); err != nil {
					return err
				}
			}
			stdin := cmd.InOrStdin()
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
			if !printOnly {
				return saveUser(cmd.Context(), fc, desktop.UserConfig{Username: name, DisplayName: display, Role: role, PasswordHash: hash, Teams: teams}, stdout)
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
	add.Flags().StringVar(&name, "username", "", "login name (or the USERNAME argument)")
	add.Flags().StringVar(&display, "display-name", "", "name shown on desktops and the wallboard")
	add.Flags().StringVar(&role, "role", "agent", "agent, supervisor or admin")
	add.Flags().StringVar(&agentID, "agent-id", "", "the ACD agent (agents[].id) this login signs in; must be the username")
	add.Flags().StringSliceVar(&teams, "teams", nil, "teams or queues a supervisor acts on")
	add.Flags().IntVar(&cost, "cost", 12, "bcrypt cost")
	add.Flags().BoolVar(&printOnly, "print", false, "print the desktop.auth.users entry for ctid.yaml instead of writing the store")
	user.AddCommand(add)
	return user
}

// checkNewUser refuses a user the config file provisions (the config wins at
// start) and, with --agent-id, an agent the config does not define.
func checkNewUser(fc fileConfig, name, role string, agentGiven bool) error {
	for _, u := range fc.Desktop.Auth.Users {
		if u.Username == name {
			return fmt.Errorf("%w: user %s is provisioned in desktop.auth.users; change it in the config file", errConfig, name)
		}
	}
	if !agentGiven {
		return nil
	}
	if role != "agent" {
		return fmt.Errorf("%w: --agent-id: only agent logins sign in an ACD agent (role %s)", errConfig, role)
	}
	for _, a := range fc.Agents {
		if a.ID == name {
			return nil
		}
	}
	return fmt.Errorf("%w: --agent-id: %q: no such agent in agents:", errConfig, name)
}

// saveUser writes the user to the configured store.
func saveUser(ctx context.Context, fc fileConfig, uc desktop.UserConfig, stdout io.Writer) error {
	if ctx == nil {
		ctx = context.Background()
	}
	st, err := store.Open(ctx, fc.Store, zerolog.Nop())
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	serr := userStore{st: st}.SaveUser(ctx, uc)
	if cerr := st.Close(); serr == nil && cerr != nil {
		serr = cerr
	}
	if serr != nil {
		return fmt.Errorf("saving user %s: %w", uc.Username, serr)
	}
	_, err = fmt.Fprintf(stdout, "user %s (%s) saved; ctid loads it at start\n", uc.Username, uc.Role)
	return err
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
