package main

import (
	"testing"

	"github.com/spf13/viper"
)

// queues[].dispositions reach the screen-pop config, softphone.ice_servers (with
// the older stun_urls) the gateway's ICE servers the consoles are given, and
// ice_udp_mux / media_shared_addr the gateway's one-socket settings.
func TestConfigQueueDispositionsAndICEServers(t *testing.T) {
	p := writeConfig(t, `
asterisk: {mode: emulator, app: ctid}
emulator: {listen: "127.0.0.1:0", username: emu, password: ""}
queues:
  - id: sales
    members: [anna]
    dispositions:
      - {code: resolved, label: "Resolved", final: true}
      - {code: call_back, label: "Call back", callback: true}
  - id: support
    members: [anna]
agents:
  - id: anna
softphone:
  stun_urls: ["stun:stun.example.com:3478"]
  ice_udp_mux: "0.0.0.0:3478"
  media_shared_addr: "0.0.0.0:40000"
  ice_servers:
    - {urls: ["turn:turn.example.com:3478?transport=udp"], username: agent, credential: s3cret}
`)
	fc, err := loadConfig(viper.New(), p)
	if err != nil {
		t.Fatal(err)
	}
	cc := fc.callsConfig()
	if err := cc.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(cc.Desks) != 1 || cc.Desks[0].Queue != "sales" || len(cc.Desks[0].Dispositions) != 2 {
		t.Fatalf("desks %+v", cc.Desks)
	}
	if d := cc.Desks[0].Dispositions[1]; d.Code != "call_back" || d.Label != "Call back" || !d.Callback || d.Final {
		t.Fatalf("disposition %+v", d)
	}
	sc := fc.softphoneConfig()
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(sc.ICE.Servers) != 2 || sc.ICE.Servers[0].URLs[0] != "stun:stun.example.com:3478" ||
		sc.ICE.Servers[1].Username != "agent" || sc.ICE.Servers[1].Credential != "s3cret" {
		t.Fatalf("ICE servers %+v", sc.ICE.Servers)
	}
	if sc.ICE.UDPMux != "0.0.0.0:3478" || sc.MediaSharedAddr != "0.0.0.0:40000" {
		t.Fatalf("one-socket settings: ice %q, media %q", sc.ICE.UDPMux, sc.MediaSharedAddr)
	}
}
