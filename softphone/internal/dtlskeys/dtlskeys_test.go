package dtlskeys

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"

	"github.com/pion/srtp/v3"
)

// record wraps one handshake message (type, body) in a DTLS 1.2 epoch-0 record.
func record(typ byte, body []byte) []byte {
	hs := make([]byte, 12, 12+len(body))
	hs[0] = typ
	hs[1], hs[2], hs[3] = byte(len(body)>>16), byte(len(body)>>8), byte(len(body))
	hs[9], hs[10], hs[11] = byte(len(body)>>16), byte(len(body)>>8), byte(len(body))
	hs = append(hs, body...)
	rec := []byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(rec[11:], uint16(len(hs)))
	return append(rec, hs...)
}

func clientHello(random [32]byte) []byte {
	body := append([]byte{0xfe, 0xfd}, random[:]...)
	body = append(body, 0, 0, 0) // session id, cookie, ... (enough for the parser)
	return record(1, body)
}

func serverHello(random [32]byte, suite, profile uint16) []byte {
	body := append([]byte{0xfe, 0xfd}, random[:]...)
	body = append(body, 0)                            // session id
	body = binary.BigEndian.AppendUint16(body, suite) // cipher suite
	body = append(body, 0)                            // compression
	ext := []byte{0xff, 0x01, 0, 1, 0}                // renegotiation_info
	ext = append(ext, 0, 14, 0, 5, 0, 2)              // use_srtp: profiles length 2
	ext = binary.BigEndian.AppendUint16(ext, profile)
	ext = append(ext, 0) // mki
	body = binary.BigEndian.AppendUint16(body, uint16(len(ext)))
	return record(2, append(body, ext...))
}

func TestKeysFromBothSides(t *testing.T) {
	var cr, sr [32]byte
	for i := range cr {
		cr[i], sr[i] = byte(i), byte(100+i)
	}
	master := bytes.Repeat([]byte{7}, 48)
	line := "CLIENT_RANDOM " + hex.EncodeToString(cr[:]) + " " + hex.EncodeToString(master) + "\n"
	peer := netip.MustParseAddrPort("127.0.0.1:5000")

	client, server := New(), New()
	if !client.Observe(clientHello(cr), peer, true) || !server.Observe(clientHello(cr), peer, false) {
		t.Fatal("a ClientHello with a new random is a new handshake")
	}
	if client.Observe(clientHello(cr), peer, true) {
		t.Fatal("the ClientHello resent after HelloVerifyRequest is not a new handshake")
	}
	// one datagram: the ServerHello then another record
	flight := append(serverHello(sr, 0xc02b, uint16(srtp.ProtectionProfileAeadAes128Gcm)), record(11, []byte{1, 2, 3})...)
	client.Observe(flight, peer, false)
	server.Observe(flight, peer, true)
	if _, err := client.Keys(peer); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("keys before the master secret: %v", err)
	}
	// the key log line in two writes
	for _, tr := range []*Tracker{client, server} {
		if _, err := tr.Write([]byte(line[:20])); err != nil {
			t.Fatal(err)
		}
		if _, err := tr.Write([]byte(line[20:])); err != nil {
			t.Fatal(err)
		}
	}
	ck, err := client.Keys(peer)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := server.Keys(peer)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Profile != srtp.ProtectionProfileAeadAes128Gcm || len(ck.LocalKey) != 16 || len(ck.LocalSalt) != 12 {
		t.Fatalf("client keys %+v", ck)
	}
	if !bytes.Equal(ck.LocalKey, sk.RemoteKey) || !bytes.Equal(ck.RemoteKey, sk.LocalKey) ||
		!bytes.Equal(ck.LocalSalt, sk.RemoteSalt) || bytes.Equal(ck.LocalKey, ck.RemoteKey) {
		t.Fatalf("client and server disagree: %+v / %+v", ck, sk)
	}
	// what one side encrypts the other decrypts
	enc, err := ck.Encrypter()
	if err != nil {
		t.Fatal(err)
	}
	dec, err := sk.Decrypter()
	if err != nil {
		t.Fatal(err)
	}
	plain := []byte{0x80, 0, 0, 1, 0, 0, 0, 160, 0, 0, 0x12, 0x34, 'h', 'i'}
	ct, err := enc.EncryptRTP(nil, plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dec.DecryptRTP(nil, ct, nil)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("decrypted %x, %v; want %x", got, err, plain)
	}

	client.Forget(peer)
	if _, err := client.Keys(peer); !errors.Is(err, ErrUnknownPeer) {
		t.Fatalf("keys after Forget: %v", err)
	}
}

func TestUnsupportedSuiteAndBadLines(t *testing.T) {
	var cr, sr [32]byte
	cr[0], sr[0] = 1, 2
	peer := netip.MustParseAddrPort("127.0.0.1:5001")
	tr := New()
	tr.Observe(clientHello(cr), peer, true)
	tr.Observe(serverHello(sr, 0x1301, 1), peer, false) // a TLS 1.3 suite
	if _, err := tr.Write([]byte("CLIENT_RANDOM " + hex.EncodeToString(cr[:]) + " " + hex.EncodeToString(make([]byte, 48)) + "\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Keys(peer); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("unknown suite: %v", err)
	}
	if _, err := tr.Write([]byte("SERVER_HANDSHAKE_TRAFFIC_SECRET x y\n")); err == nil {
		t.Fatal("a line that is not CLIENT_RANDOM was accepted")
	}
	// truncated or foreign datagrams are ignored
	tr.Observe([]byte{22, 0xfe, 0xfd, 0, 0}, peer, false)
	tr.Observe(bytes.Repeat([]byte{0xff}, 40), peer, false)
}
