// Package dtlskeys recovers the DTLS-SRTP keys of pion peer connections without
// forking pion: pion webrtc v4.2.20 keeps its dtls.Conn (and so the keying-material
// exporter) private, but it exposes the DTLS master secrets through the public key
// log writer (SettingEngine.SetDTLSKeyLogWriter, NSS "CLIENT_RANDOM <client random>
// <master secret>" lines). The other inputs of the RFC 5705 exporter travel in clear
// on the wire: the client and server randoms (ClientHello, ServerHello), the cipher
// suite (its PRF hash) and the SRTP protection profile (the ServerHello's use_srtp
// extension). A Tracker is fed both: the key log, and every DTLS datagram of a UDP
// socket with its remote address and direction; Keys then derives the SRTP master
// keys of the association with that remote address exactly as pion does
// (srtp.Config.ExtractSessionKeysFromDTLS with an exporter computed here).
//
// Only DTLS 1.2 with the suites pion implements is understood; anything else yields
// an error and the caller keeps pion's own SRTP path. Keys that come out wrong fail
// SRTP authentication on the first packet, so a caller that falls back on an
// authentication failure cannot relay garbage.
package dtlskeys

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/netip"
	"sync"

	"github.com/pion/dtls/v3/pkg/crypto/prf"
	"github.com/pion/srtp/v3"
)

// Errors of Keys.
var (
	ErrUnknownPeer   = errors.New("dtlskeys: no DTLS handshake seen with this address")
	ErrIncomplete    = errors.New("dtlskeys: handshake not complete (randoms, suite, profile or master secret missing)")
	ErrUnsupported   = errors.New("dtlskeys: unsupported cipher suite or SRTP profile")
	errBadKeyLogLine = errors.New("dtlskeys: malformed key log line")
)

// maxEntries bounds each table (a peer that never finishes its handshake leaves an
// entry until Forget; past this the oldest generation is dropped wholesale).
const maxEntries = 8192

// Keys are an association's SRTP master keys, from this side's point of view.
type Keys struct {
	Profile               srtp.ProtectionProfile
	LocalKey, LocalSalt   []byte // what this side encrypts with
	RemoteKey, RemoteSalt []byte // what the peer encrypts with
}

type hello struct {
	clientRandom, serverRandom [32]byte
	haveCR, haveSR             bool
	weAreClient                bool
	suite                      uint16
	profile                    uint16
}

// Tracker collects handshakes and master secrets. Safe for concurrent use.
type Tracker struct {
	mu      sync.Mutex
	masters map[[32]byte][]byte // client random -> master secret
	hellos  map[netip.AddrPort]*hello
	partial []byte // key log bytes not ending a line yet
}

// New returns an empty Tracker.
func New() *Tracker {
	return &Tracker{masters: map[[32]byte][]byte{}, hellos: map[netip.AddrPort]*hello{}}
}

// Write takes key log output (give the Tracker to SetDTLSKeyLogWriter).
func (t *Tracker) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	buf := append(t.partial, p...)
	t.partial = nil
	var err error
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			if len(buf) > 0 && len(buf) < 1024 {
				t.partial = append([]byte(nil), buf...)
			}
			return len(p), err
		}
		if e := t.keyLogLine(buf[:i]); e != nil {
			err = e
		}
		buf = buf[i+1:]
	}
}

func (t *Tracker) keyLogLine(line []byte) error {
	f := bytes.Fields(line)
	if len(f) != 3 || string(f[0]) != "CLIENT_RANDOM" {
		return fmt.Errorf("%w: %.40q", errBadKeyLogLine, line)
	}
	var cr [32]byte
	if n, err := hex.Decode(cr[:], f[1]); err != nil || n != 32 {
		return fmt.Errorf("%w: client random", errBadKeyLogLine)
	}
	ms := make([]byte, hex.DecodedLen(len(f[2])))
	if _, err := hex.Decode(ms, f[2]); err != nil || len(ms) != 48 {
		return fmt.Errorf("%w: master secret", errBadKeyLogLine)
	}
	if len(t.masters) >= maxEntries {
		clear(t.masters)
	}
	t.masters[cr] = ms
	return nil
}

// Observe looks at one datagram exchanged with remote (outgoing: this side sent it).
// Only cleartext DTLS handshake records (epoch 0) matter; anything else is ignored
// cheaply. It reports whether the datagram started a new handshake (a ClientHello
// with a new random): keys derived earlier for remote are then stale.
func (t *Tracker) Observe(b []byte, remote netip.AddrPort, outgoing bool) (newHandshake bool) {
	for len(b) >= 13 {
		typ, epoch, n := b[0], binary.BigEndian.Uint16(b[3:5]), int(binary.BigEndian.Uint16(b[11:13]))
		if len(b) < 13+n {
			return newHandshake
		}
		if typ == 22 && epoch == 0 {
			if t.handshakeRecord(b[13:13+n], remote, outgoing) {
				newHandshake = true
			}
		}
		b = b[13+n:]
	}
	return newHandshake
}

func (t *Tracker) handshakeRecord(r []byte, remote netip.AddrPort, outgoing bool) (newHandshake bool) {
	for len(r) >= 12 {
		typ := r[0]
		fragOff := uint32(r[6])<<16 | uint32(r[7])<<8 | uint32(r[8])
		fragLen := int(uint32(r[9])<<16 | uint32(r[10])<<8 | uint32(r[11]))
		if len(r) < 12+fragLen {
			return newHandshake
		}
		body := r[12 : 12+fragLen]
		r = r[12+fragLen:]
		if fragOff != 0 || len(body) < 34 {
			continue
		}
		switch typ {
		case 1: // ClientHello
			var cr [32]byte
			copy(cr[:], body[2:34])
			t.mu.Lock()
			h := t.hellos[remote]
			if h == nil || !h.haveCR || h.clientRandom != cr {
				if len(t.hellos) >= maxEntries {
					clear(t.hellos)
				}
				h = &hello{clientRandom: cr, haveCR: true, weAreClient: outgoing}
				t.hellos[remote] = h
				newHandshake = true
			}
			t.mu.Unlock()
		case 2: // ServerHello
			suite, profile, ok := parseServerHello(body)
			if !ok {
				continue
			}
			t.mu.Lock()
			if h := t.hellos[remote]; h != nil {
				copy(h.serverRandom[:], body[2:34])
				h.haveSR, h.suite, h.profile = true, suite, profile
			}
			t.mu.Unlock()
		}
	}
	return newHandshake
}

// parseServerHello returns the cipher suite and the use_srtp profile (0 if none).
func parseServerHello(b []byte) (suite, profile uint16, ok bool) {
	p := 34
	if len(b) < p+1 {
		return 0, 0, false
	}
	p += 1 + int(b[p]) // session id
	if len(b) < p+3 {
		return 0, 0, false
	}
	suite = binary.BigEndian.Uint16(b[p:])
	p += 3 // suite, compression
	if len(b) < p+2 {
		return suite, 0, true
	}
	end := min(len(b), p+2+int(binary.BigEndian.Uint16(b[p:])))
	p += 2
	for p+4 <= end {
		typ, n := binary.BigEndian.Uint16(b[p:]), int(binary.BigEndian.Uint16(b[p+2:]))
		p += 4
		if p+n > end {
			break
		}
		if typ == 14 && n >= 4 { // use_srtp: profiles length, the chosen profile, mki
			profile = binary.BigEndian.Uint16(b[p+2:])
		}
		p += n
	}
	return suite, profile, true
}

// prfHash is the PRF hash of a DTLS 1.2 cipher suite pion implements (the
// AES-256-GCM-SHA384 suites use SHA-384, every other one SHA-256).
func prfHash(suite uint16) (func() hash.Hash, bool) {
	switch suite {
	case 0xc02c, 0xc030: // TLS_ECDHE_{ECDSA,RSA}_WITH_AES_256_GCM_SHA384
		return sha512.New384, true
	case 0xc02b, 0xc02f, // AES_128_GCM_SHA256
		0xcca8, 0xcca9, // CHACHA20_POLY1305_SHA256
		0xc00a, 0xc014, // AES_256_CBC_SHA
		0xc0ac, 0xc0ae, 0xc0af: // ECDSA AES_128_CCM(_8), AES_256_CCM_8
		return sha256.New, true
	}
	return nil, false
}

type exporter struct {
	master, seedRandoms []byte
	h                   func() hash.Hash
}

func (e exporter) ExportKeyingMaterial(label string, context []byte, length int) ([]byte, error) {
	if len(context) != 0 {
		return nil, ErrUnsupported
	}
	seed := append([]byte(label), e.seedRandoms...)
	return prf.PHash(e.master, seed, length, e.h)
}

// Keys derives the SRTP keys of the DTLS association with remote.
func (t *Tracker) Keys(remote netip.AddrPort) (Keys, error) {
	t.mu.Lock()
	h := t.hellos[remote]
	var hv hello
	var ms []byte
	if h != nil {
		hv = *h
		ms = t.masters[h.clientRandom]
	}
	t.mu.Unlock()
	if h == nil {
		return Keys{}, ErrUnknownPeer
	}
	if !hv.haveCR || !hv.haveSR || hv.profile == 0 || ms == nil {
		return Keys{}, ErrIncomplete
	}
	hf, ok := prfHash(hv.suite)
	if !ok {
		return Keys{}, fmt.Errorf("%w: suite %#04x", ErrUnsupported, hv.suite)
	}
	cfg := srtp.Config{Profile: srtp.ProtectionProfile(hv.profile)}
	e := exporter{master: ms, seedRandoms: append(hv.clientRandom[:], hv.serverRandom[:]...), h: hf}
	if err := cfg.ExtractSessionKeysFromDTLS(e, hv.weAreClient); err != nil {
		return Keys{}, fmt.Errorf("%w: profile %#04x: %w", ErrUnsupported, hv.profile, err)
	}
	return Keys{Profile: cfg.Profile, LocalKey: cfg.Keys.LocalMasterKey, LocalSalt: cfg.Keys.LocalMasterSalt,
		RemoteKey: cfg.Keys.RemoteMasterKey, RemoteSalt: cfg.Keys.RemoteMasterSalt}, nil
}

// Forget drops what is known about remote.
func (t *Tracker) Forget(remote netip.AddrPort) {
	t.mu.Lock()
	if h := t.hellos[remote]; h != nil {
		delete(t.masters, h.clientRandom)
		delete(t.hellos, remote)
	}
	t.mu.Unlock()
}

// Decrypter returns an SRTP context that decrypts what the peer sends.
func (k Keys) Decrypter(opts ...srtp.ContextOption) (*srtp.Context, error) {
	c, err := srtp.CreateContext(k.RemoteKey, k.RemoteSalt, k.Profile, opts...)
	if err != nil {
		return nil, fmt.Errorf("dtlskeys: srtp context: %w", err)
	}
	return c, nil
}

// Encrypter returns an SRTP context that encrypts what this side sends.
func (k Keys) Encrypter(opts ...srtp.ContextOption) (*srtp.Context, error) {
	c, err := srtp.CreateContext(k.LocalKey, k.LocalSalt, k.Profile, opts...)
	if err != nil {
		return nil, fmt.Errorf("dtlskeys: srtp context: %w", err)
	}
	return c, nil
}
