package desktop

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/time/rate"
)

// Role is a user's role. Roles are ordered: admin ⊇ supervisor ⊇ agent.
type Role int

// The roles.
const (
	RoleNone Role = iota // unauthenticated (public routes only)
	RoleAgent
	RoleSupervisor
	RoleAdmin
)

// String returns the role's config/API name.
func (r Role) String() string {
	switch r {
	case RoleNone:
		return "none"
	case RoleAgent:
		return "agent"
	case RoleSupervisor:
		return "supervisor"
	case RoleAdmin:
		return "admin"
	default:
		return "Role(" + strconv.Itoa(int(r)) + ")"
	}
}

// ErrUnknownRole is returned by ParseRole.
var ErrUnknownRole = errors.New("unknown role")

// ParseRole parses "agent", "supervisor" or "admin".
func ParseRole(s string) (Role, error) {
	switch s {
	case "agent":
		return RoleAgent, nil
	case "supervisor":
		return RoleSupervisor, nil
	case "admin":
		return RoleAdmin, nil
	default:
		return RoleNone, fmt.Errorf("%w: %q", ErrUnknownRole, s)
	}
}

// AtLeast reports whether r includes the rights of min.
func (r Role) AtLeast(min Role) bool { return r >= min }

// Principal is the authenticated user behind a command or request.
type Principal struct {
	User  string
	Role  Role
	Teams []string // teams or queues a supervisor acts on
}

// User is a user as the API shows it (never the hash).
type User struct {
	Username    string   `json:"username"`
	DisplayName string   `json:"display_name"`
	Role        string   `json:"role"`
	Teams       []string `json:"teams"`
}

type userRec struct {
	User
	role Role
	hash string
}

func (u *userRec) principal() Principal {
	return Principal{User: u.Username, Role: u.role, Teams: slices.Clone(u.Teams)}
}

// Password errors.
var (
	ErrPasswordTooShort = errors.New("password must be at least 8 characters")
	ErrPasswordTooLong  = errors.New("password must be at most 72 bytes")
	ErrBadHash          = errors.New("not a bcrypt or argon2id hash")
)

// HashPassword returns a bcrypt hash of password at cost (bcrypt.DefaultCost when 0),
// for `ctid user add` and auth.users[].password_hash.
func HashPassword(password string, cost int) (string, error) {
	if len(password) < 8 {
		return "", ErrPasswordTooShort
	}
	if len(password) > 72 {
		return "", ErrPasswordTooLong
	}
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

func checkHashFormat(h string) error {
	switch {
	case strings.HasPrefix(h, "$2a$"), strings.HasPrefix(h, "$2b$"), strings.HasPrefix(h, "$2y$"):
		if _, err := bcrypt.Cost([]byte(h)); err != nil {
			return fmt.Errorf("%w: %v", ErrBadHash, err)
		}
		return nil
	case strings.HasPrefix(h, "$argon2id$"):
		_, _, _, err := parseArgon2id(h)
		return err
	default:
		return ErrBadHash
	}
}

type argonParams struct {
	mem     uint32
	time    uint32
	threads uint8
}

// parseArgon2id parses $argon2id$v=19$m=65536,t=3,p=2$<salt b64>$<key b64>.
func parseArgon2id(h string) (argonParams, []byte, []byte, error) {
	var p argonParams
	parts := strings.Split(h, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != "v=19" {
		return p, nil, nil, fmt.Errorf("%w: want $argon2id$v=19$m=..,t=..,p=..$salt$key", ErrBadHash)
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.mem, &p.time, &threads); err != nil || p.time == 0 || threads == 0 || threads > 255 || p.mem < 8 || p.mem > 4<<20 {
		return p, nil, nil, fmt.Errorf("%w: bad argon2id parameters", ErrBadHash)
	}
	p.threads = uint8(threads)
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	key, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(key) < 16 {
		return p, nil, nil, fmt.Errorf("%w: bad argon2id salt or key", ErrBadHash)
	}
	return p, salt, key, nil
}

// verifyPassword compares in constant time (bcrypt's and argon2id's comparisons are).
func verifyPassword(hash, password string) bool {
	if strings.HasPrefix(hash, "$argon2id$") {
		p, salt, key, err := parseArgon2id(hash)
		if err != nil {
			return false
		}
		got := argon2.IDKey([]byte(password), salt, p.time, p.mem, p.threads, uint32(len(key)))
		return subtle.ConstantTimeCompare(got, key) == 1
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// directory holds the users (config-provisioned plus those created over REST).
type directory struct {
	mu    sync.RWMutex
	users map[string]*userRec
	// dummy is a hash compared against for unknown users, so timing does not tell
	// whether a username exists.
	dummy string
}

func newDirectory(cfg []UserConfig, cost int) (*directory, error) {
	d := &directory{users: make(map[string]*userRec, len(cfg))}
	for _, u := range cfg {
		if err := d.add(u); err != nil {
			return nil, err
		}
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("ctid-no-such-user"), cost)
	if err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	d.dummy = string(dummy)
	return d, nil
}

// Directory errors.
var (
	ErrUserExists = errors.New("user already exists")
	ErrNoUser     = errors.New("no such user")
)

func (d *directory) add(u UserConfig) error {
	role, err := ParseRole(u.Role)
	if err != nil {
		return err
	}
	if !usernameRe.MatchString(u.Username) {
		return fmt.Errorf("bad username %q", u.Username)
	}
	teams := slices.Clone(u.Teams)
	if teams == nil {
		teams = []string{}
	}
	rec := &userRec{User: User{Username: u.Username, DisplayName: u.DisplayName, Role: role.String(), Teams: teams}, role: role, hash: u.PasswordHash}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.users[u.Username]; ok {
		return fmt.Errorf("%w: %s", ErrUserExists, u.Username)
	}
	d.users[u.Username] = rec
	return nil
}

func (d *directory) get(name string) (*userRec, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	u, ok := d.users[name]
	return u, ok
}

func (d *directory) list() []User {
	d.mu.RLock()
	out := make([]User, 0, len(d.users))
	for _, u := range d.users {
		out = append(out, u.User)
	}
	d.mu.RUnlock()
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.Username, b.Username) })
	return out
}

// authenticate checks a password; unknown users cost the same as wrong passwords.
func (d *directory) authenticate(name, password string) (*userRec, bool) {
	u, ok := d.get(name)
	if !ok {
		verifyPassword(d.dummy, password)
		return nil, false
	}
	if !verifyPassword(u.hash, password) {
		return nil, false
	}
	return u, true
}

// tokenRec is a live login. Tokens are 32 random bytes; only their SHA-256 is kept.
type tokenRec struct {
	user    string
	expires time.Time
}

type tokenKey [sha256.Size]byte

func hashToken(tok string) tokenKey { return sha256.Sum256([]byte(tok)) }

type tokens struct {
	mu        sync.Mutex
	live      map[tokenKey]tokenRec
	lastSweep time.Time
}

func newTokens() *tokens { return &tokens{live: make(map[tokenKey]tokenRec)} }

func (t *tokens) issue(user string, now time.Time, ttl time.Duration) (string, time.Time, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	exp := now.Add(ttl)
	t.mu.Lock()
	defer t.mu.Unlock()
	if now.Sub(t.lastSweep) >= time.Minute { // forget expired tokens now and then
		t.lastSweep = now
		for k, r := range t.live {
			if !now.Before(r.expires) {
				delete(t.live, k)
			}
		}
	}
	t.live[hashToken(tok)] = tokenRec{user: user, expires: exp}
	return tok, exp, nil
}

// check returns the token's record if the token is live.
func (t *tokens) check(tok string, now time.Time) (tokenKey, tokenRec, bool) {
	if tok == "" || len(tok) > 256 {
		return tokenKey{}, tokenRec{}, false
	}
	k := hashToken(tok)
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.live[k]
	if !ok {
		return k, tokenRec{}, false
	}
	if !now.Before(r.expires) {
		delete(t.live, k)
		return k, tokenRec{}, false
	}
	return k, r, true
}

func (t *tokens) revoke(k tokenKey) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	_, ok := t.live[k]
	delete(t.live, k)
	return ok
}

// limiter is a set of token buckets keyed by user name or client IP.
type limiter struct {
	mu      sync.Mutex
	perKey  rate.Limit
	burst   int
	buckets map[string]*rate.Limiter
	max     int
}

func newLimiter(n int, window time.Duration) *limiter {
	return &limiter{perKey: rate.Limit(float64(n) / window.Seconds()), burst: n, buckets: make(map[string]*rate.Limiter), max: 100000}
}

func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max { // forget buckets that have refilled: they hold no state
			for k, v := range l.buckets {
				if v.TokensAt(now) >= float64(l.burst) {
					delete(l.buckets, k)
				}
			}
			if len(l.buckets) >= l.max {
				return false
			}
		}
		b = rate.NewLimiter(l.perKey, l.burst)
		l.buckets[key] = b
	}
	return b.AllowN(now, 1)
}
