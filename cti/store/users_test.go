package store

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUsersListsAllWithTeams(t *testing.T) {
	eachEngine(t, func(t *testing.T, e engine) {
		s := mustOpen(t, e.config(t))
		ctx := testCtx(t)
		list, err := s.Users(ctx)
		require.NoError(t, err)
		require.Empty(t, list)
		require.NoError(t, s.UpsertUser(ctx, User{Username: "zed", Role: RoleAdmin, PasswordHash: "$2a$10$z", Updated: t0}))
		require.NoError(t, s.UpsertUser(ctx, User{Username: "amy", DisplayName: "Amy Ó Briain", Role: RoleSupervisor, PasswordHash: "$2a$10$a", Teams: []string{"sales", "support"}, Updated: t0}))
		list, err = s.Users(ctx)
		require.NoError(t, err)
		require.Equal(t, []User{
			{Username: "amy", DisplayName: "Amy Ó Briain", Role: RoleSupervisor, PasswordHash: "$2a$10$a", Teams: []string{"sales", "support"}, Created: t0, Updated: t0},
			{Username: "zed", Role: RoleAdmin, PasswordHash: "$2a$10$z", Teams: []string{}, Created: t0, Updated: t0},
		}, list)
	})
}
