//go:build !linux

package softphone

// reactor is linux only (epoll); elsewhere every leg has its own reader goroutine.
type reactor struct{}

func newReactor(*Gateway) (*reactor, error) { return nil, nil }
func (r *reactor) add(*mediaLeg) error      { return nil }
func (r *reactor) remove(*mediaLeg)         {}
func (r *reactor) close() error             { return nil }
