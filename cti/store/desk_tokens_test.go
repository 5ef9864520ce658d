package store

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Desktop logins survive a reopen of the store; logout and expiry forget them.
func TestDeskTokensKeptAcrossReopen(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		cfg := e.config(t)
		s := mustOpen(t, cfg)
		ctx := testCtx(t)
		a := DeskToken{Hash: sha256.Sum256([]byte("token-a")), Username: "anna", Expires: t0.Add(12 * time.Hour)}
		b := DeskToken{Hash: sha256.Sum256([]byte("token-b")), Username: "boris", Expires: t0.Add(time.Hour)}
		old := DeskToken{Hash: sha256.Sum256([]byte("token-old")), Username: "carl", Expires: t0.Add(time.Minute)}
		for _, tk := range []DeskToken{old, a, b} {
			require.NoError(t, s.SaveDeskToken(ctx, tk, t0))
		}
		require.ErrorIs(t, s.SaveDeskToken(ctx, DeskToken{Hash: sha256.Sum256([]byte("x"))}, t0), ErrInvalidRecord)
		require.NoError(t, s.Close())

		s = mustOpen(t, cfg)
		list, err := s.DeskTokens(ctx, t0.Add(2*time.Minute)) // carl's login has expired
		require.NoError(t, err)
		require.Equal(t, []DeskToken{b, a}, list)
		require.NoError(t, s.DeleteDeskToken(ctx, b.Hash))
		require.NoError(t, s.DeleteDeskToken(ctx, b.Hash)) // twice: no error
		// A new login sweeps the expired rows.
		c := DeskToken{Hash: sha256.Sum256([]byte("token-c")), Username: "carl", Expires: t0.Add(13 * time.Hour)}
		require.NoError(t, s.SaveDeskToken(ctx, c, t0.Add(2*time.Minute)))
		list, err = s.DeskTokens(ctx, t0)
		require.NoError(t, err)
		require.Equal(t, []DeskToken{a, c}, list)
	})
}
