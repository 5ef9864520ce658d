package main

import (
	"context"
	"fmt"
	"slices"

	"github.com/rs/zerolog"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
)

// userStore persists desktop users through the store (POST /api/v1/users).
type userStore struct{ st *store.Store }

func (u userStore) SaveUser(ctx context.Context, uc desktop.UserConfig) error {
	su, err := storeUser(uc)
	if err != nil {
		return err
	}
	return u.st.UpsertUser(ctx, su)
}

func storeUser(uc desktop.UserConfig) (store.User, error) {
	role, err := store.ParseRole(uc.Role)
	if err != nil {
		return store.User{}, err
	}
	return store.User{Username: uc.Username, DisplayName: uc.DisplayName, Role: role, PasswordHash: uc.PasswordHash,
		Teams: slices.Clone(uc.Teams)}, nil
}

// displayNamesOf lists the desktop users' display names (username → name) for the
// orchestrator's wallboard and agent list; users created at run time are included.
func displayNamesOf(api *desktop.Server) func() map[string]string {
	return func() map[string]string {
		users := api.Users()
		m := make(map[string]string, len(users))
		for _, u := range users {
			if u.DisplayName != "" {
				m[u.Username] = u.DisplayName
			}
		}
		return m
	}
}

// userSource is what loadUsers reads and writes (the store).
type userSource interface {
	Users(ctx context.Context) ([]store.User, error)
	UpsertUser(ctx context.Context, u store.User) error
}

// loadUsers reconciles the users at start: config-provisioned users
// (desktop.auth.users) are the truth for their names and are written to the store
// when it differs; every other stored user (created over the admin API or with
// `ctid user add`) is loaded into the desktop API.
func loadUsers(ctx context.Context, src userSource, api *desktop.Server, cfg []desktop.UserConfig, log zerolog.Logger) error {
	stored, err := src.Users(ctx)
	if err != nil {
		return fmt.Errorf("loading users: %w", err)
	}
	byName := make(map[string]store.User, len(stored))
	for _, u := range stored {
		byName[u.Username] = u
	}
	provisioned := make(map[string]bool, len(cfg))
	for _, uc := range cfg {
		provisioned[uc.Username] = true
		want, err := storeUser(uc)
		if err != nil {
			return fmt.Errorf("desktop.auth.users %s: %w", uc.Username, err)
		}
		have, ok := byName[uc.Username]
		teams := slices.Clone(want.Teams)
		slices.Sort(teams)
		teams = slices.Compact(teams)
		if ok && have.Role == want.Role && have.PasswordHash == want.PasswordHash && slices.Equal(have.Teams, teams) &&
			have.DisplayName == want.DisplayName {
			continue
		}
		if err := src.UpsertUser(ctx, want); err != nil {
			return fmt.Errorf("saving config user %s: %w", uc.Username, err)
		}
		if ok {
			log.Info().Str("user", uc.Username).Msg("stored user updated from desktop.auth.users (the config file wins)")
		}
	}
	loaded := 0
	for _, u := range stored {
		if provisioned[u.Username] {
			continue
		}
		uc := desktop.UserConfig{Username: u.Username, DisplayName: u.DisplayName, Role: u.Role.String(), PasswordHash: u.PasswordHash, Teams: u.Teams}
		if err := api.AddUser(uc); err != nil {
			log.Error().Err(err).Str("user", u.Username).Msg("stored user not loaded")
			continue
		}
		loaded++
	}
	log.Info().Int("config_users", len(cfg)).Int("stored_users", loaded).Msg("desktop users loaded")
	return nil
}
