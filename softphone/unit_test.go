package softphone

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/rs/zerolog"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for name, mutate := range map[string]func(*Config){
		"port min low":        func(c *Config) { c.MediaPortMin = 80 },
		"port range inverted": func(c *Config) { c.MediaPortMin, c.MediaPortMax = 41000, 40000 },
		"bind ip":             func(c *Config) { c.MediaBindIP = "localhost" },
		"unspecified bind without advertise": func(c *Config) {
			c.MediaBindIP = "0.0.0.0"
		},
		"advertise unspecified":  func(c *Config) { c.MediaAdvertiseIP = "0.0.0.0" },
		"allowed sources":        func(c *Config) { c.MediaAllowedSources = []string{"10.0.0.1"} },
		"dtmf pt":                func(c *Config) { c.DTMFPayloadType = 13 },
		"no network types":       func(c *Config) { c.ICE.NetworkTypes = nil },
		"bad network type":       func(c *Config) { c.ICE.NetworkTypes = []string{"sctp"} },
		"blank interface":        func(c *Config) { c.ICE.Interfaces = []string{" "} },
		"nat ip":                 func(c *Config) { c.ICE.NAT1To1IPs = []string{"example.com"} },
		"server without urls":    func(c *Config) { c.ICE.Servers = []ICEServer{{}} },
		"server bad scheme":      func(c *Config) { c.ICE.Servers = []ICEServer{{URLs: []string{"http://x"}}} },
		"turn without password":  func(c *Config) { c.ICE.Servers = []ICEServer{{URLs: []string{"turn:x:3478"}, Username: "u"}} },
		"ice port range":         func(c *Config) { c.ICE.UDPPortMin, c.ICE.UDPPortMax = 50000, 40000 },
		"disconnected timeout":   func(c *Config) { c.ICE.DisconnectedTimeout = 0 },
		"failed before disconn.": func(c *Config) { c.ICE.FailedTimeout = time.Second },
		"keepalive":              func(c *Config) { c.ICE.KeepAliveInterval = time.Minute },
	} {
		c := DefaultConfig()
		mutate(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
		if _, err := NewGateway(c, zerolog.Nop()); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: NewGateway: %v", name, err)
		}
	}
	c := DefaultConfig()
	c.MediaBindIP, c.MediaAdvertiseIP = "0.0.0.0", "192.0.2.10"
	c.MediaAllowedSources = []string{"192.0.2.0/24"}
	c.ICE.NAT1To1IPs = []string{"203.0.113.5"}
	c.ICE.Servers = []ICEServer{{URLs: []string{"stun:stun.example.com:3478"}},
		{URLs: []string{"turn:turn.example.com:3478?transport=udp"}, Username: "u", Credential: "p"}}
	c.ICE.UDPPortMin, c.ICE.UDPPortMax = 50000, 50100
	c.ICE.NetworkTypes = []string{"udp4", "udp6", "tcp4"}
	if err := c.Validate(); err != nil {
		t.Fatalf("full config: %v", err)
	}
	g, err := NewGateway(c, zerolog.Nop())
	if err != nil {
		t.Fatalf("NewGateway(full config): %v", err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestStateMachine(t *testing.T) {
	for _, s := range []State{StateNew, StateConnecting, StateConnected, StateDisconnected, StateFailed, StateClosed} {
		if s.String() == "" || s.String()[0] == 'S' {
			t.Errorf("State %d has no name", int(s))
		}
	}
	if State(42).String() != "State(42)" {
		t.Error("unknown state name")
	}
	steps := []struct {
		in   input
		want State
	}{
		{inputConnecting, StateConnecting},
		{inputConnected, StateConnected},
		{inputConnected, StateConnected},
		{inputDisconnected, StateDisconnected},
		{inputConnected, StateConnected},
		{inputFailed, StateFailed},
		{inputConnecting, StateConnecting}, // ICE restart
		{inputConnected, StateConnected},
		{inputClosed, StateClosed},
		{inputClosed, StateClosed},
	}
	cur := StateNew
	for i, st := range steps {
		next, err := apply(cur, st.in)
		if err != nil || next != st.want {
			t.Fatalf("step %d: %s on %s -> %s, %v; want %s", i, st.in, cur, next, err, st.want)
		}
		cur = next
	}
	for _, in := range []input{inputNew, inputConnecting, inputConnected, inputDisconnected, inputFailed} {
		if _, err := apply(StateClosed, in); !errors.Is(err, ErrInvalidTransition) {
			t.Errorf("%s on closed: %v", in, err)
		}
	}
	if _, err := apply(StateNew, inputDisconnected); !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("disconnected on new: %v", err)
	}
	if _, err := apply(StateConnected, inputNew); !errors.Is(err, ErrInvalidTransition) {
		t.Errorf("new on connected: %v", err)
	}
}

func TestRewriterContinuity(t *testing.T) {
	var r rewriter
	a, b := &mediaLeg{}, &mediaLeg{}
	t0 := time.Unix(1000, 0)
	var out []rtp.Header
	for i := range 3 {
		h := rtp.Header{SSRC: 1, SequenceNumber: 65534 + uint16(i), Timestamp: 4294967000 + uint32(i)*160}
		r.rewrite(a, &h, t0.Add(time.Duration(i)*20*time.Millisecond))
		out = append(out, h)
	}
	// Reordered late packet of a: older seq keeps its place.
	late := rtp.Header{SSRC: 1, SequenceNumber: 65535, Timestamp: 4294967160}
	r.rewrite(a, &late, t0.Add(70*time.Millisecond))
	if late.SequenceNumber != out[1].SequenceNumber {
		t.Fatalf("late packet rewritten to %d, want %d", late.SequenceNumber, out[1].SequenceNumber)
	}
	// Switch to b one second later.
	h := rtp.Header{SSRC: 9, SequenceNumber: 5, Timestamp: 77}
	r.rewrite(b, &h, t0.Add(40*time.Millisecond+time.Second))
	out = append(out, h)
	for i := 1; i < len(out); i++ {
		if out[i].SequenceNumber != out[i-1].SequenceNumber+1 {
			t.Fatalf("seq %d -> %d", out[i-1].SequenceNumber, out[i].SequenceNumber)
		}
	}
	if d := out[3].Timestamp - out[2].Timestamp; d != 8000 {
		t.Fatalf("timestamp step across switch %d, want 8000 (1 s)", d)
	}
	if !out[3].Marker || !out[0].Marker || out[1].Marker {
		t.Fatal("marker must be set on source switches only")
	}
	// Same leg, new SSRC (Asterisk restarted the stream), immediately: minimum step.
	h2 := rtp.Header{SSRC: 10, SequenceNumber: 1, Timestamp: 1}
	r.rewrite(b, &h2, t0.Add(40*time.Millisecond+time.Second))
	if d := h2.Timestamp - out[3].Timestamp; d != samplesPerFrame || h2.SequenceNumber != out[3].SequenceNumber+1 {
		t.Fatalf("ssrc change: ts step %d seq %d", d, h2.SequenceNumber)
	}
}

func TestDTMFDigit(t *testing.T) {
	want := map[byte]string{0: "0", 9: "9", 10: "*", 11: "#", 12: "A", 15: "D"}
	for e, d := range want {
		got, ok := dtmfDigit([]byte{e, 0, 0, 160})
		if !ok || got != d {
			t.Errorf("event %d: %q %v, want %q", e, got, ok, d)
		}
	}
	for _, p := range [][]byte{{16, 0, 0, 0}, {200, 0, 0, 0}, {1, 0}} {
		if _, ok := dtmfDigit(p); ok {
			t.Errorf("%v accepted", p)
		}
	}
}
