package softphone

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Config configures the WebRTC audio gateway. The zero value is not usable; start
// from DefaultConfig and override. Keys are named as in ctid's configuration file
// (softphone.*).
type Config struct {
	// MediaPortMin and MediaPortMax bound the UDP ports allocated for Asterisk
	// ExternalMedia legs (one port per attached call), inclusive.
	MediaPortMin uint16
	MediaPortMax uint16
	// MediaBindIP is the local address the ExternalMedia legs listen on.
	MediaBindIP string
	// MediaAdvertiseIP is the address put in Leg.LocalAddr (what ctid passes to
	// Asterisk as external_host). Empty means MediaBindIP; required when MediaBindIP
	// is unspecified (0.0.0.0 / ::).
	MediaAdvertiseIP string
	// MediaSharedAddr, when set ("host:port", port 0 picks a free one), puts every
	// leg on that ONE UDP socket instead of a port per leg: each leg's LocalAddr is
	// that address, Asterisk's packets are told apart by their source, which must
	// be given with Session.SetRemote (ctid does, from the ExternalMedia channel's
	// UNICASTRTP_LOCAL_ADDRESS/PORT in the externalMedia response) — packets from an address no leg has are
	// dropped as foreign, there is no latching on the first packet. The socket is
	// read with recvmmsg and written with sendmmsg. MediaPortMin/Max are then
	// unused.
	MediaSharedAddr string
	// MediaAllowedSources restricts which source addresses a leg latches onto
	// (CIDR prefixes, e.g. the Asterisk host). Empty means any source: the first
	// packet wins.
	MediaAllowedSources []string
	// DTMFPayloadType is the payload type ctid offers for telephone-event when it
	// has to choose one (the browser's offer normally decides).
	DTMFPayloadType uint8

	ICE ICEConfig

	// residence measures the packets' time in the gateway (benchmarks only; see
	// residence.go).
	residence bool
}

// ICEConfig configures ICE for the agents' peer connections.
type ICEConfig struct {
	// NetworkTypes is a subset of udp4, udp6, tcp4, tcp6.
	NetworkTypes []string
	// Interfaces is an allow-list of interface names to gather candidates on; empty
	// means every interface.
	Interfaces []string
	// IncludeLoopback gathers candidates on loopback addresses (needed when agents
	// and ctid share a host, and on loopback-only test machines).
	IncludeLoopback bool
	// NAT1To1IPs are public addresses that replace the host candidates' addresses
	// (ctid behind a 1:1 NAT, e.g. a cloud VM with an elastic IP).
	NAT1To1IPs []string
	// Servers are STUN/TURN servers for agents outside the LAN.
	Servers []ICEServer
	// UDPPortMin and UDPPortMax bound the ports ICE gathers host candidates on
	// (both zero: any ephemeral port).
	UDPPortMin uint16
	UDPPortMax uint16
	// UDPMux, when set ("host:port", e.g. 0.0.0.0:3478), carries every agent's ICE
	// over that one UDP socket (pion's UDP mux) instead of a socket per peer
	// connection; the socket is read with recvmmsg and written with batched sendmmsg.
	// UDPPortMin/Max are then unused. Port 0 picks a free port (tests).
	UDPMux string
	// NoSRTPFastPath keeps every microphone packet on pion's SRTP path even with
	// UDPMux (a diagnostics switch; by default established sessions' microphone
	// SRTP is decrypted and relayed straight off the shared socket).
	NoSRTPFastPath bool
	// DisconnectedTimeout, FailedTimeout and KeepAliveInterval are the ICE agent
	// timers.
	DisconnectedTimeout time.Duration
	FailedTimeout       time.Duration
	KeepAliveInterval   time.Duration
}

// ICEServer is one STUN or TURN server.
type ICEServer struct {
	// URLs such as stun:stun.example.com:3478 or turn:turn.example.com:3478?transport=udp.
	URLs       []string
	Username   string
	Credential string
}

// DefaultConfig returns defaults that work on a single host and on a loopback-only
// machine.
func DefaultConfig() Config {
	return Config{
		MediaPortMin:    40000,
		MediaPortMax:    40999,
		MediaBindIP:     "127.0.0.1",
		DTMFPayloadType: 101,
		ICE: ICEConfig{
			NetworkTypes:        []string{"udp4"},
			IncludeLoopback:     true,
			DisconnectedTimeout: 5 * time.Second,
			FailedTimeout:       25 * time.Second,
			KeepAliveInterval:   2 * time.Second,
		},
	}
}

func invalid(key string, value any, expected string) error {
	return fmt.Errorf("%w: %s: %q: %s", ErrInvalidConfig, key, fmt.Sprint(value), expected)
}

// Validate reports the first problem in c, naming the key, the value and what is
// expected.
func (c Config) Validate() error {
	if c.MediaPortMin < 1024 {
		return invalid("softphone.media_port_min", c.MediaPortMin, "must be between 1024 and 65535")
	}
	if c.MediaPortMax < c.MediaPortMin {
		return invalid("softphone.media_port_max", c.MediaPortMax, "must be at least softphone.media_port_min")
	}
	bind, err := netip.ParseAddr(c.MediaBindIP)
	if err != nil {
		return invalid("softphone.media_bind_ip", c.MediaBindIP, "must be an IP address such as 127.0.0.1")
	}
	if c.MediaAdvertiseIP != "" {
		adv, err := netip.ParseAddr(c.MediaAdvertiseIP)
		if err != nil || adv.IsUnspecified() {
			return invalid("softphone.media_advertise_ip", c.MediaAdvertiseIP, "must be a specific IP address")
		}
	} else if bind.IsUnspecified() {
		return invalid("softphone.media_advertise_ip", "", "is required when softphone.media_bind_ip is unspecified")
	}
	if c.MediaSharedAddr != "" {
		if _, err := netip.ParseAddrPort(c.MediaSharedAddr); err != nil {
			return invalid("softphone.media_shared_addr", c.MediaSharedAddr, "must be host:port such as 0.0.0.0:40000")
		}
	}
	for _, p := range c.MediaAllowedSources {
		if _, err := netip.ParsePrefix(p); err != nil {
			return invalid("softphone.media_allowed_sources", p, "must be a CIDR prefix such as 10.0.0.5/32")
		}
	}
	if c.DTMFPayloadType < 96 || c.DTMFPayloadType > 127 {
		return invalid("softphone.dtmf_payload_type", c.DTMFPayloadType, "must be a dynamic payload type (96-127)")
	}
	return c.ICE.validate()
}

func (c ICEConfig) validate() error {
	if len(c.NetworkTypes) == 0 {
		return invalid("softphone.ice.network_types", "", "must list at least one of udp4, udp6, tcp4, tcp6")
	}
	for _, n := range c.NetworkTypes {
		if _, err := parseNetworkType(n); err != nil {
			return invalid("softphone.ice.network_types", n, "must be one of udp4, udp6, tcp4, tcp6")
		}
	}
	for _, i := range c.Interfaces {
		if strings.TrimSpace(i) == "" {
			return invalid("softphone.ice.interfaces", i, "must be interface names such as eth0 or lo")
		}
	}
	for _, ip := range c.NAT1To1IPs {
		a, err := netip.ParseAddr(ip)
		if err != nil || a.IsUnspecified() {
			return invalid("softphone.ice.nat_1to1_ips", ip, "must be specific IP addresses")
		}
	}
	for _, s := range c.Servers {
		if len(s.URLs) == 0 {
			return invalid("softphone.ice.servers.urls", "", "must list at least one stun: or turn: URL")
		}
		for _, u := range s.URLs {
			scheme, _, ok := strings.Cut(u, ":")
			switch {
			case !ok:
				return invalid("softphone.ice.servers.urls", u, "must be a stun:, stuns:, turn: or turns: URL")
			case scheme == "stun" || scheme == "stuns":
			case scheme == "turn" || scheme == "turns":
				if s.Username == "" || s.Credential == "" {
					return invalid("softphone.ice.servers.username", u, "TURN servers need a username and a credential")
				}
			default:
				return invalid("softphone.ice.servers.urls", u, "must be a stun:, stuns:, turn: or turns: URL")
			}
		}
	}
	if c.UDPPortMin != 0 || c.UDPPortMax != 0 {
		if c.UDPPortMin < 1024 || c.UDPPortMax < c.UDPPortMin {
			return invalid("softphone.ice.udp_port_min", fmt.Sprintf("%d-%d", c.UDPPortMin, c.UDPPortMax),
				"must be a range within 1024-65535 (or both 0 for any port)")
		}
	}
	if c.UDPMux != "" {
		if _, err := netip.ParseAddrPort(c.UDPMux); err != nil {
			return invalid("softphone.ice.udp_mux", c.UDPMux, "must be host:port such as 0.0.0.0:3478")
		}
	}
	if c.DisconnectedTimeout <= 0 || c.DisconnectedTimeout > time.Minute {
		return invalid("softphone.ice.disconnected_timeout", c.DisconnectedTimeout, "must be between 1ms and 1m")
	}
	if c.FailedTimeout < c.DisconnectedTimeout || c.FailedTimeout > 5*time.Minute {
		return invalid("softphone.ice.failed_timeout", c.FailedTimeout,
			"must be at least softphone.ice.disconnected_timeout and at most 5m")
	}
	if c.KeepAliveInterval <= 0 || c.KeepAliveInterval > c.DisconnectedTimeout {
		return invalid("softphone.ice.keepalive_interval", c.KeepAliveInterval,
			"must be positive and at most softphone.ice.disconnected_timeout")
	}
	return nil
}
