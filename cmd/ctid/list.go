package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ctid/ctid/cti/campaigns"
	"github.com/ctid/ctid/cti/lists"
	"github.com/ctid/ctid/cti/store"
)

// newListCmd: `ctid list import FILE --campaign X` imports a CSV into a campaign's
// list in the configured store, with a progress bar on a terminal (plain lines
// otherwise), and prints every problem row.
func newListCmd(g *globalFlags, stdout, stderr io.Writer) *cobra.Command {
	list := &cobra.Command{Use: "list", Short: "campaign contact lists"}
	var (
		campaign, listName, mapping, region, delimiter string
		partial                                        bool
		maxShown                                       int
	)
	imp := &cobra.Command{
		Use:   "import FILE --campaign ID [--map phone=Mobile,first_name=First,...] [--partial]",
		Short: "import a CSV (UTF-8) into a campaign's list; all-or-nothing unless --partial",
		Long: `Imports FILE ("-" for standard input) into the campaign's list in the store named
by the configuration (--config). Numbers are normalised to E.164 with the campaign's
default region (or --region); rows repeating a number of the file or of the list are
skipped. Without --partial one rejected row and nothing is kept. Mapping keys: phone
(repeat for several numbers), first_name, last_name, zone, external_id, field (repeat).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if campaign == "" {
				return fmt.Errorf("%w: --campaign is required", errConfig)
			}
			m, err := lists.ParseMapping(mapping)
			if err != nil {
				return fmt.Errorf("%w: --map: %w", errConfig, err)
			}
			fc, err := load(g, cmd)
			if err != nil {
				return err
			}
			log := newLogger(stderr, fc.Log.Format, "warn")
			ctx := cmd.Context()
			st, err := store.Open(ctx, fc.Store, log)
			if err != nil {
				return fmt.Errorf("%w: %w", errConfig, err)
			}
			defer func() {
				if cerr := st.Close(); cerr != nil {
					fmt.Fprintln(stderr, "ctid: closing the store:", cerr)
				}
			}()
			cfg, err := importConfig(ctx, st, campaign, region, delimiter, partial)
			if err != nil {
				return err
			}
			in, size, name, closeIn, err := openInput(args[0], cmd.InOrStdin())
			if err != nil {
				return err
			}
			defer func() {
				if cerr := closeIn(); cerr != nil {
					fmt.Fprintln(stderr, "ctid: closing the input:", cerr)
				}
			}()
			bar := newProgressBar(stderr, size)
			spec := store.ImportSpec{CampaignID: campaign, ListName: listName, FileName: name, By: cliUser()}
			rep, err := lists.Import(ctx, st, spec, in, cfg, m, bar.update)
			bar.done()
			printReport(stdout, rep, maxShown)
			if err != nil {
				return fmt.Errorf("import failed, nothing was kept: %w", err)
			}
			return nil
		},
	}
	imp.Flags().StringVar(&campaign, "campaign", "", "campaign id (required)")
	imp.Flags().StringVar(&listName, "list", "main", "list name (created when new)")
	imp.Flags().StringVar(&mapping, "map", "", "column mapping, e.g. phone=Mobile,phone=Home,first_name=First,zone=TZ,field=Plan")
	imp.Flags().StringVar(&region, "region", "", "default region for numbers without a country code (default: the campaign's)")
	imp.Flags().StringVar(&delimiter, "delimiter", ",", "field separator: , ; | or tab")
	imp.Flags().BoolVar(&partial, "partial", false, "keep the good rows when some are rejected (the import is recorded as partial)")
	imp.Flags().IntVar(&maxShown, "show", 50, "problem rows printed (all are counted)")
	list.AddCommand(imp)
	return list
}

func importConfig(ctx context.Context, st *store.Store, campaign, region, delimiter string, partial bool) (lists.Config, error) {
	cfg := lists.DefaultConfig()
	if partial {
		cfg.Mode = lists.Partial
	}
	c, err := st.Campaign(ctx, campaign)
	if errors.Is(err, store.ErrNotFound) {
		return cfg, fmt.Errorf("%w: --campaign: no campaign %q in the store (create it first: POST /api/v1/campaigns)", errConfig, campaign)
	}
	if err != nil {
		return cfg, err
	}
	var def campaigns.Definition
	if err := json.Unmarshal(c.Config, &def); err != nil {
		return cfg, fmt.Errorf("campaign %q: stored definition: %w", campaign, err)
	}
	cfg.DefaultRegion = def.DefaultRegion
	if region != "" {
		cfg.DefaultRegion = region
	}
	switch delimiter {
	case ",", "":
	case ";", "|":
		cfg.Comma = rune(delimiter[0])
	case "tab", "\t":
		cfg.Comma = '\t'
	default:
		return cfg, fmt.Errorf("%w: --delimiter %q: want , ; | or tab", errConfig, delimiter)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("%w: %w", errConfig, err)
	}
	return cfg, nil
}

func openInput(path string, stdin io.Reader) (io.Reader, int64, string, func() error, error) {
	if path == "-" {
		return stdin, 0, "stdin", func() error { return nil }, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, "", nil, fmt.Errorf("%w: %w", errConfig, err)
	}
	var size int64
	if fi, err := f.Stat(); err == nil {
		size = fi.Size()
	}
	return f, size, filepath.Base(path), f.Close, nil
}

func cliUser() string {
	if u := os.Getenv("USER"); u != "" {
		return "cli:" + u
	}
	return "cli"
}

// progressBar draws on a terminal ("\r" redraws, at most 10 a second) and prints a
// plain line every 10 s otherwise.
type progressBar struct {
	w      io.Writer
	tty    bool
	size   int64
	start  time.Time
	last   time.Time
	drawn  bool
	latest lists.Progress
}

func newProgressBar(w io.Writer, size int64) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = isTerminal(f)
	}
	now := time.Now()
	return &progressBar{w: w, tty: tty, size: size, start: now, last: now}
}

func (b *progressBar) update(p lists.Progress) {
	b.latest = p
	now := time.Now()
	every := 10 * time.Second
	if b.tty {
		every = 100 * time.Millisecond
	}
	if now.Sub(b.last) < every {
		return
	}
	b.last = now
	b.draw(now)
}

func (b *progressBar) draw(now time.Time) {
	p := b.latest
	rate := float64(p.Rows) / max(now.Sub(b.start).Seconds(), 0.001)
	stats := fmt.Sprintf("%d rows, %d imported, %d rejected, %d duplicates, %.0f rows/s", p.Rows, p.Imported, p.Rejected, p.Duplicates, rate)
	if !b.tty {
		fmt.Fprintln(b.w, "import:", stats)
		return
	}
	const width = 30
	bar := strings.Repeat("░", width)
	pct := ""
	if b.size > 0 {
		f := min(float64(p.Bytes)/float64(b.size), 1)
		n := int(f * width)
		bar = strings.Repeat("█", n) + strings.Repeat("░", width-n)
		pct = fmt.Sprintf(" %3.0f%%", f*100)
	}
	fmt.Fprintf(b.w, "\r%s%s  %s\x1b[K", bar, pct, stats)
	b.drawn = true
}

func (b *progressBar) done() {
	b.draw(time.Now())
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}

func printReport(w io.Writer, rep lists.Report, maxShown int) {
	status := rep.Import.Status
	if status == "" {
		status = store.ImportFailed
	}
	fmt.Fprintf(w, "import %s: %s — %d rows, %d imported, %d rejected, %d duplicates\n",
		rep.Import.ID, status, rep.Rows, rep.Imported, rep.Rejected, rep.Duplicates)
	for i, p := range rep.Problems {
		if i == maxShown {
			fmt.Fprintf(w, "  ... %d more problem rows not shown (--show)\n", len(rep.Problems)-maxShown)
			break
		}
		col := ""
		if p.Column != "" {
			col = " [" + p.Column + "]"
		}
		fmt.Fprintf(w, "  line %d: %s%s: %s\n", p.Line, p.Kind, col, p.Reason)
	}
	if rep.Truncated {
		fmt.Fprintln(w, "  (more problems were counted than listed)")
	}
}
