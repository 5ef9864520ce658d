package desktop

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"
)

// TokenStore keeps the live logins across a restart — only each token's SHA-256,
// its user and expiry — so that a desktop whose ctid was restarted (a crash in the
// middle of a call) reconnects with the token it has instead of being sent back to
// the sign-in form. ctid wires its store; nil keeps tokens in memory only.
type TokenStore interface {
	SaveToken(ctx context.Context, t StoredToken, now time.Time) error
	DeleteToken(ctx context.Context, hash [sha256.Size]byte) error
	Tokens(ctx context.Context, now time.Time) ([]StoredToken, error)
}

// StoredToken is a login as a TokenStore keeps it.
type StoredToken struct {
	Hash    [sha256.Size]byte
	User    string
	Expires time.Time
}

// SetTokenStore sets where logins are kept and loads the ones still live (of users
// that still exist). Call it before serving. A failed load is returned, and the
// store is set anyway: new logins are still kept.
func (s *Server) SetTokenStore(ctx context.Context, ts TokenStore) error {
	s.mu.Lock()
	s.tokenStore = ts
	s.mu.Unlock()
	if ts == nil {
		return nil
	}
	now := s.now()
	list, err := ts.Tokens(ctx, now)
	if err != nil {
		return fmt.Errorf("desktop: loading the logins kept across restarts: %w", err)
	}
	n := 0
	for _, t := range list {
		if _, ok := s.users.get(t.User); !ok || !now.Before(t.Expires) {
			continue
		}
		s.tokens.restore(tokenKey(t.Hash), tokenRec{user: t.User, expires: t.Expires})
		n++
	}
	s.log.Info().Int("sessions", n).Msg("desktop: logins kept across the restart loaded")
	return nil
}

func (s *Server) tokenStoreOf() TokenStore {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.tokenStore
}

// keepToken saves a new login; on failure the login still works, until a restart.
func (s *Server) keepToken(ctx context.Context, tok, user string, exp, now time.Time) {
	ts := s.tokenStoreOf()
	if ts == nil {
		return
	}
	if err := ts.SaveToken(ctx, StoredToken{Hash: hashToken(tok), User: user, Expires: exp}, now); err != nil {
		s.log.Warn().Err(err).Str("user", user).Msg("desktop: login not kept in the store; it ends if ctid restarts")
	}
}

// forgetToken deletes a revoked login from the store.
func (s *Server) forgetToken(ctx context.Context, k tokenKey, user string) {
	ts := s.tokenStoreOf()
	if ts == nil {
		return
	}
	if err := ts.DeleteToken(ctx, k); err != nil {
		s.log.Error().Err(err).Str("user", user).Msg("desktop: logout not deleted from the store; the token would be live again after a restart until it expires")
	}
}

func (t *tokens) restore(k tokenKey, r tokenRec) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.live[k] = r
}
