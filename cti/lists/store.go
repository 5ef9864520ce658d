package lists

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ctid/ctid/cti/store"
)

// Importer starts an import in the store (*store.Store).
type Importer interface {
	BeginImport(ctx context.Context, spec store.ImportSpec) (*store.Import, error)
}

// Report is an import's result with its stored record.
type Report struct {
	Result
	Import store.ListImport `json:"-"`
}

// Import reads a CSV into a campaign's list: Parse under an import record, then
// Finish (complete, or partial when rows were rejected in partial mode) or Abort
// (nothing kept). When it returns without error the import is committed.
func Import(ctx context.Context, st Importer, spec store.ImportSpec, r io.Reader, cfg Config, m Mapping, progress func(Progress)) (Report, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return Report{Result: Result{Problems: []Problem{}}}, err
	}
	spec.Mode = store.ImportAllOrNothing
	if cfg.Mode == Partial {
		spec.Mode = store.ImportPartial
	}
	im, err := st.BeginImport(ctx, spec)
	if err != nil {
		return Report{Result: Result{Problems: []Problem{}}}, err
	}
	res, perr := Parse(ctx, r, cfg, m, im, progress)
	counts := store.ImportCounts{Rows: res.Rows, Imported: res.Imported, Rejected: res.Rejected, Duplicates: res.Duplicates}
	if perr == nil {
		rec, err := im.Finish(ctx, counts)
		if err == nil {
			return Report{Result: res, Import: rec}, nil
		}
		perr = err
	}
	// The abort must happen even if the request was cancelled.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	rec, aerr := im.Abort(actx, perr.Error(), counts)
	res.Imported = 0
	if aerr != nil {
		return Report{Result: res, Import: rec}, errors.Join(perr, fmt.Errorf("removing the rows of the failed import: %w", aerr))
	}
	return Report{Result: res, Import: rec}, perr
}
