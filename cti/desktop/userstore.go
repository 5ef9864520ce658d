package desktop

import (
	"context"
	"errors"
	"fmt"
)

// UserStore persists the users created over the admin API, so that they survive a
// restart (ctid wires its store; nil keeps them in memory only).
type UserStore interface {
	SaveUser(ctx context.Context, u UserConfig) error
}

// ErrUserNotSaved means the user store refused a new user; the user is not created.
var ErrUserNotSaved = errors.New("user not saved")

// SetUserStore sets where POST /api/v1/users persists users. Call it before serving.
func (s *Server) SetUserStore(us UserStore) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userStore = us
}

// saveUser persists a user just added to the directory; on failure the user is
// taken out again (a user the admin was told exists must survive a restart).
func (s *Server) saveUser(ctx context.Context, u UserConfig) error {
	s.mu.RLock()
	us := s.userStore
	s.mu.RUnlock()
	if us == nil {
		return nil
	}
	if err := us.SaveUser(ctx, u); err != nil {
		s.users.remove(u.Username)
		return fmt.Errorf("%w: %s: %w", ErrUserNotSaved, u.Username, err)
	}
	return nil
}

func (d *directory) remove(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.users, name)
}
