// Command ctid is the CTI bridge and call-queue daemon.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1
	exitConfig  = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errConfig):
		fmt.Fprintln(stderr, "ctid:", err)
		return exitConfig
	case errors.Is(err, errCheckFailed):
		return exitFailure
	default:
		fmt.Fprintln(stderr, "ctid:", err)
		return exitFailure
	}
}

type globalFlags struct {
	config    string
	logFormat string
	logLevel  string
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	var g globalFlags
	root := &cobra.Command{
		Use:           "ctid",
		Short:         "ctid: CTI bridge and call-queue daemon for Asterisk (ARI)",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.config, "config", "", "configuration file (YAML)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "", "log format: json (default) or console")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "", "log level: trace, debug, info, warn, error")
	root.AddCommand(newServeCmd(&g, stderr), newCheckCmd(&g, stdout, stderr), newEmulatorCmd(&g, stderr), newVersionCmd(stdout),
		newUserCmd(&g, stdout), newSimCmd(stdout))
	root.AddCommand(newListCmd(&g, stdout, stderr))
	return root
}

// load reads the configuration with the global flags applied on top.
func load(g *globalFlags, cmd *cobra.Command) (fileConfig, error) {
	vp := viper.New()
	if f := cmd.Flags().Lookup("log-format"); f != nil && f.Changed {
		vp.Set("log.format", g.logFormat)
	}
	if f := cmd.Flags().Lookup("log-level"); f != nil && f.Changed {
		vp.Set("log.level", g.logLevel)
	}
	return loadConfig(vp, g.config)
}

func newLogger(w io.Writer, format, level string) zerolog.Logger {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		lvl = zerolog.InfoLevel
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

func newVersionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(stdout, "ctid %s\n", version)
			return err
		},
	}
}
