package desktop

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"
)

// ErrInvalidConfig is wrapped by every validation error.
var ErrInvalidConfig = errors.New("invalid desktop configuration")

// Config configures the desktop API: auth, users and the WebSocket sessions. Keys in
// error messages are the mapstructure names below (e.g. auth.users[2].password_hash).
type Config struct {
	Auth      AuthConfig      `mapstructure:"auth"`
	WebSocket WebSocketConfig `mapstructure:"websocket"`
	// MaxBodyBytes bounds a REST request body.
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`
}

// AuthConfig configures login, tokens and the provisioned users.
type AuthConfig struct {
	// TokenTTL is how long a login token (and its cookie) stays valid.
	TokenTTL  time.Duration   `mapstructure:"token_ttl"`
	LoginRate LoginRateConfig `mapstructure:"login_rate"`
	Cookie    CookieConfig    `mapstructure:"cookie"`
	// BcryptCost is used by POST /api/v1/users and HashPassword.
	BcryptCost int          `mapstructure:"bcrypt_cost"`
	Users      []UserConfig `mapstructure:"users"`
}

// LoginRateConfig limits login attempts: Burst attempts at once per key, refilled at
// PerUser (or PerIP) attempts per Window.
type LoginRateConfig struct {
	PerUser int           `mapstructure:"per_user"`
	PerIP   int           `mapstructure:"per_ip"`
	Window  time.Duration `mapstructure:"window"`
}

// CookieConfig configures the session cookie set by login (for the embedded pages).
type CookieConfig struct {
	Name string `mapstructure:"name"`
	// Secure forces the Secure attribute even without TLS on this listener (TLS
	// terminated by a proxy). The attribute is always set when the request came over TLS.
	Secure bool   `mapstructure:"secure"`
	Path   string `mapstructure:"path"`
}

// UserConfig is one provisioned user.
type UserConfig struct {
	Username    string `mapstructure:"username"`
	DisplayName string `mapstructure:"display_name"`
	Role        string `mapstructure:"role"`
	// PasswordHash is a bcrypt ($2a$/$2b$/$2y$) or argon2id ($argon2id$v=19$...) hash,
	// e.g. from `ctid user add`.
	PasswordHash string `mapstructure:"password_hash"`
	// Teams lists the teams or queues a supervisor acts on.
	Teams []string `mapstructure:"teams"`
}

// WebSocketConfig configures the desktop sockets.
type WebSocketConfig struct {
	// AllowedOrigins lists extra browser origins allowed to open the socket, e.g.
	// "https://desk.example.com" or "https://*.example.com"; the socket's own host is
	// always allowed.
	AllowedOrigins []string `mapstructure:"allowed_origins"`
	// SendBuffer is how many events a session may lag behind its stream before it is
	// disconnected as a slow consumer (it can resume later).
	SendBuffer int `mapstructure:"send_buffer"`
	// ResumeBuffer is how many events are kept per user for resume; further behind
	// gets a snapshot.
	ResumeBuffer int `mapstructure:"resume_buffer"`
	// MaxFrameBytes bounds one client frame; larger frames close the socket (1009).
	MaxFrameBytes int64 `mapstructure:"max_frame_bytes"`
	// WriteTimeout bounds one frame write to a client.
	WriteTimeout time.Duration `mapstructure:"write_timeout"`
	// PingInterval is how often the server pings an idle socket (0 disables).
	PingInterval time.Duration `mapstructure:"ping_interval"`
	// CommandTimeout bounds one command's handling by the orchestrator.
	CommandTimeout time.Duration `mapstructure:"command_timeout"`
}

// DefaultConfig returns the defaults (no users: provision them from config or
// POST /api/v1/users).
func DefaultConfig() Config {
	return Config{
		Auth: AuthConfig{
			TokenTTL:   12 * time.Hour,
			LoginRate:  LoginRateConfig{PerUser: 5, PerIP: 20, Window: time.Minute},
			Cookie:     CookieConfig{Name: "ctid_session", Path: "/"},
			BcryptCost: 12,
		},
		WebSocket: WebSocketConfig{
			SendBuffer:     256,
			ResumeBuffer:   1024,
			MaxFrameBytes:  64 << 10,
			WriteTimeout:   10 * time.Second,
			PingInterval:   30 * time.Second,
			CommandTimeout: 10 * time.Second,
		},
		MaxBodyBytes: 1 << 20,
	}
}

var (
	usernameRe   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)
	cookieNameRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

func invalid(key string, val any, why string) error {
	return fmt.Errorf("%w: %s: %v: %s", ErrInvalidConfig, key, val, why)
}

// Validate checks every setting and names the offending key.
func (c Config) Validate() error {
	a := c.Auth
	if a.TokenTTL < time.Second || a.TokenTTL > 30*24*time.Hour {
		return invalid("auth.token_ttl", a.TokenTTL, "must be between 1s and 720h")
	}
	if a.LoginRate.PerUser < 1 {
		return invalid("auth.login_rate.per_user", a.LoginRate.PerUser, "must be at least 1")
	}
	if a.LoginRate.PerIP < 1 {
		return invalid("auth.login_rate.per_ip", a.LoginRate.PerIP, "must be at least 1")
	}
	if a.LoginRate.Window <= 0 {
		return invalid("auth.login_rate.window", a.LoginRate.Window, "must be positive, e.g. 1m")
	}
	if !cookieNameRe.MatchString(a.Cookie.Name) {
		return invalid("auth.cookie.name", a.Cookie.Name, "must be 1-64 letters, digits, '_' or '-'")
	}
	if !strings.HasPrefix(a.Cookie.Path, "/") {
		return invalid("auth.cookie.path", a.Cookie.Path, "must start with /")
	}
	if a.BcryptCost < 4 || a.BcryptCost > 31 {
		return invalid("auth.bcrypt_cost", a.BcryptCost, "must be between 4 and 31")
	}
	seen := make(map[string]int, len(a.Users))
	for i, u := range a.Users {
		key := fmt.Sprintf("auth.users[%d]", i)
		if !usernameRe.MatchString(u.Username) {
			return invalid(key+".username", u.Username, "must be 1-64 characters: letters, digits, '.', '_', '@', '-'")
		}
		if j, dup := seen[u.Username]; dup {
			return invalid(key+".username", u.Username, fmt.Sprintf("duplicate of auth.users[%d]", j))
		}
		seen[u.Username] = i
		if _, err := ParseRole(u.Role); err != nil {
			return invalid(key+".role", u.Role, "must be agent, supervisor or admin")
		}
		if err := checkHashFormat(u.PasswordHash); err != nil {
			return invalid(key+".password_hash", "(redacted)", err.Error()+"; make one with `ctid user add`")
		}
		if len(u.DisplayName) > 128 {
			return invalid(key+".display_name", u.DisplayName, "must be at most 128 characters")
		}
		for j, t := range u.Teams {
			if t == "" || len(t) > 64 {
				return invalid(fmt.Sprintf("%s.teams[%d]", key, j), t, "must be 1-64 characters")
			}
		}
	}
	w := c.WebSocket
	for i, o := range w.AllowedOrigins {
		if err := checkOriginPattern(o); err != nil {
			return invalid(fmt.Sprintf("websocket.allowed_origins[%d]", i), o, err.Error())
		}
	}
	if w.SendBuffer < 1 || w.SendBuffer > 1<<20 {
		return invalid("websocket.send_buffer", w.SendBuffer, "must be between 1 and 1048576")
	}
	if w.ResumeBuffer < w.SendBuffer || w.ResumeBuffer > 1<<20 {
		return invalid("websocket.resume_buffer", w.ResumeBuffer, "must be at least websocket.send_buffer and at most 1048576")
	}
	if w.MaxFrameBytes < 1024 || w.MaxFrameBytes > 16<<20 {
		return invalid("websocket.max_frame_bytes", w.MaxFrameBytes, "must be between 1024 and 16777216")
	}
	if w.WriteTimeout <= 0 {
		return invalid("websocket.write_timeout", w.WriteTimeout, "must be positive")
	}
	if w.PingInterval < 0 {
		return invalid("websocket.ping_interval", w.PingInterval, "must be 0 (off) or positive")
	}
	if w.CommandTimeout <= 0 {
		return invalid("websocket.command_timeout", w.CommandTimeout, "must be positive")
	}
	if c.MaxBodyBytes < 1024 {
		return invalid("max_body_bytes", c.MaxBodyBytes, "must be at least 1024")
	}
	return nil
}

// checkOriginPattern accepts scheme://host[:port] where host may contain '*' globs.
func checkOriginPattern(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return errors.New("must be an origin like https://desk.example.com or https://*.example.com")
	}
	if _, err := path.Match(u.Host, ""); err != nil {
		return errors.New("bad host pattern")
	}
	return nil
}
