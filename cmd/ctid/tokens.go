package main

import (
	"context"
	"crypto/sha256"
	"time"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
)

// tokenStore keeps desktop logins in the store (only the tokens' SHA-256), so that
// consoles keep their session across a restart of ctid.
type tokenStore struct{ st *store.Store }

func (s tokenStore) SaveToken(ctx context.Context, t desktop.StoredToken, now time.Time) error {
	return s.st.SaveDeskToken(ctx, store.DeskToken{Hash: t.Hash, Username: t.User, Expires: t.Expires}, now)
}

func (s tokenStore) DeleteToken(ctx context.Context, hash [sha256.Size]byte) error {
	return s.st.DeleteDeskToken(ctx, hash)
}

func (s tokenStore) Tokens(ctx context.Context, now time.Time) ([]desktop.StoredToken, error) {
	list, err := s.st.DeskTokens(ctx, now)
	if err != nil {
		return nil, err
	}
	out := make([]desktop.StoredToken, 0, len(list))
	for _, t := range list {
		out = append(out, desktop.StoredToken{Hash: t.Hash, User: t.Username, Expires: t.Expires})
	}
	return out, nil
}
