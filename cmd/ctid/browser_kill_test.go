package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/telephony/ariemu"
)

// browserKillConfig is killConfig for a browser agent: anna has no desk phone (her
// audio is the console's WebRTC softphone), ctid listens on a fixed address (the
// restarted ctid must be where the page's socket reconnects to).
func browserKillConfig(t *testing.T, listen, ariURL, dbPath string) string {
	t.Helper()
	hash, err := desktop.HashPassword(consolePassword, 4)
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`server:
  listen: %s
log:
  level: info
asterisk:
  mode: external
  url: %s
  username: ctid
  password: pw
  app: ctid
store:
  driver: sqlite
  path: %s
calls:
  offer_timeout: 60s
  default_region: PL
queues:
  - id: sales
    strategy: longest-idle
    members: [anna]
    wrapup: 60s
agents:
  - id: anna
desktop:
  auth:
    bcrypt_cost: 4
    users:
      - {username: anna, display_name: Anna Nowak, role: agent, password_hash: %q}
softphone:
  enabled: true
  media_port_min: 46300
  media_port_max: 46399
  media_bind_ip: 127.0.0.1
  ice_network_types: [udp4]
  ice_include_loopback: true
  ice_interfaces: [lo]
`, listen, ariURL, dbPath, hash)
	path := filepath.Join(t.TempDir(), "ctid.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freeAddr is a loopback address nothing listens on (the port the kernel handed out).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestBrowserCallSurvivesKillNine: a browser agent talks (audio both ways through
// the console's WebRTC softphone) when ctid is SIGKILLed; ctid is started again on
// the same address against the same PBX and store. The page — not reloaded —
// reconnects by itself, keeps its session, shows the restored call as talking,
// negotiates a new peer connection with the new ctid, and the audio flows both ways
// again over a fresh leg; the agent hangs up and wraps up in the page, and the call
// has exactly one interaction record, closed, with the disposition.
func TestBrowserCallSurvivesKillNine(t *testing.T) {
	emu, srvURL, dbPath := killPBX(t)
	listen := freeAddr(t)
	config := browserKillConfig(t, listen, srvURL+"/ari", dbPath)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	first := startChild(t, config)
	if first.base != "http://"+listen {
		t.Fatalf("ctid listens on %s, configured %s", first.base, listen)
	}
	var second *child
	defer func() {
		if t.Failed() {
			t.Logf("first ctid's log:\n%s", first.stderr)
			if second != nil {
				t.Logf("second ctid's log:\n%s", second.stderr)
			}
		}
	}()
	br := startBrowser(t, ctx)
	br.do("open the console and log in", chromedp.Navigate(first.base+"/"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "anna"),
		chromedp.SendKeys(chromedp.ID("password"), consolePassword),
		chromedp.Click(chromedp.ID("btn-login")),
	)
	br.waitJS("the desktop socket", "window.ctidConsole.state.ws")
	br.waitJS("the softphone connected", `window.ctidConsole.state.rtc === "connected"`)
	br.waitJS("Ready enabled", `!document.getElementById("btn-ready").disabled`)
	br.do("click Ready", chromedp.Click(chromedp.ID("btn-ready")))
	br.waitJS("state ready", `window.ctidConsole.state.agent === "ready"`)

	caller, err := emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "221234570", CallerName: "Jan Kowalski",
		Dialled: "800", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	br.waitJS("the incoming-call toast", `!document.getElementById("offer").hidden && !document.getElementById("btn-accept").disabled`)
	br.do("click Accept", chromedp.Click(chromedp.ID("btn-accept")))
	br.waitJS("talking", `window.ctidConsole.state.call && window.ctidConsole.state.call.phase === "talking"`)
	var before int
	waitFor(t, "25 packets from the caller in the browser (getStats inbound-rtp)", func() bool {
		before = eval[int](br, packetsReceivedJS)
		return before >= 25
	})
	waitFor(t, "inbound-rtp packetsReceived rising", func() bool { return eval[int](br, packetsReceivedJS) >= before+25 })
	leg1 := caller + "-agent"
	waitFor(t, "25 packets from the browser's microphone at the emulator", func() bool {
		_, got := emu.RTPStats(leg1)
		return got >= 25
	})
	bridge := ""
	if ch, ok := emu.Channel(caller); ok {
		bridge = ch.Bridge
	}
	if bridge == "" {
		t.Fatalf("the caller is in no bridge while talking")
	}

	// The page must not be reloaded from here on: a mark on window would be lost.
	eval[bool](br, `window.ctidNotReloaded = true`)
	eval[bool](br, `(window.ctidPCBeforeKill = window.ctidConsole.pc) !== null`)
	killed := time.Now()
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := first.cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("first ctid not killed: %v", err)
	}
	for _, id := range []string{caller, leg1} {
		if _, ok := emu.Channel(id); !ok {
			t.Fatalf("%s gone with ctid; Asterisk keeps calls when its ARI client dies", id)
		}
	}
	br.waitJS("the connection-lost notice", `!window.ctidConsole.state.ws`)

	second = startChild(t, config)
	ready := time.Since(killed)
	if second.base != first.base {
		t.Fatalf("restarted ctid on %s, want %s", second.base, first.base)
	}
	// The console reconnects by itself (no reload, no new sign-in) and shows the
	// restored call.
	br.waitJS("the reconnected socket", "window.ctidConsole.state.ws")
	if !eval[bool](br, `window.ctidNotReloaded === true && document.getElementById("login").hidden`) {
		t.Fatal("the console was reloaded or sent back to the sign-in form")
	}
	br.waitJS("the restored call talking", `window.ctidConsole.state.call && window.ctidConsole.state.call.id === "`+caller+`" && window.ctidConsole.state.call.phase === "talking"`)
	reconnected := time.Since(killed)
	br.waitJS("the screen-pop kept", `document.getElementById("pop-number").textContent === "+48221234570"`)
	// A new peer connection with the new ctid (the old one's other end died with the
	// process; an ICE restart of it would wait for ICE to fail first).
	br.waitJS("a new peer connection, the old one closed", `window.ctidConsole.pc !== window.ctidPCBeforeKill && window.ctidPCBeforeKill.connectionState === "closed"`)
	br.waitJS("the softphone connected to the new ctid", `window.ctidConsole.state.rtc === "connected"`)
	if ch, _ := emu.Channel(caller); ch.Bridge != bridge {
		t.Fatalf("caller in bridge %q after the restart, was %q", ch.Bridge, bridge)
	}
	// Audio both ways again, over a fresh leg of the new ctid.
	leg2 := caller + "-agent-2"
	waitFor(t, "the fresh agent leg "+leg2+" in the caller's bridge", func() bool {
		ch, ok := emu.Channel(leg2)
		return ok && ch.Bridge == bridge
	})
	var after int
	defer func() { // where the audio went, when it did not
		if t.Failed() {
			_, r1 := emu.RTPStats(leg1)
			s2, r2 := emu.RTPStats(leg2)
			t.Logf("emulator: %s received %d; %s sent %d, received %d", leg1, r1, leg2, s2, r2)
			_, m := get(t, second.base+"/metrics")
			for l := range strings.Lines(m) {
				if strings.HasPrefix(l, "ctid_softphone_rtp") {
					t.Logf("second ctid: %s", strings.TrimSpace(l))
				}
			}
		}
	}()
	waitFor(t, "the caller's audio in the browser after the restart (inbound-rtp)", func() bool {
		after = eval[int](br, packetsReceivedJS)
		return after >= 25
	})
	heard := time.Since(killed)
	waitFor(t, "inbound-rtp packetsReceived rising after the restart", func() bool { return eval[int](br, packetsReceivedJS) >= after+25 })
	waitFor(t, "25 packets from the browser's microphone on the fresh leg", func() bool {
		_, got := emu.RTPStats(leg2)
		return got >= 25
	})
	t.Logf("SIGKILL → restarted ctid ready %.2f s, console back with the restored call %.2f s, 25 packets of the caller in the browser %.2f s",
		ready.Seconds(), reconnected.Seconds(), heard.Seconds())
	waitFor(t, "the stale leg "+leg1+" hung up", func() bool {
		_, ok := emu.Channel(leg1)
		return !ok
	})
	br.screenshot("console-after-kill.png")

	// Hang up and wrap up in the page.
	br.waitJS("Hang up enabled", `!document.getElementById("btn-hangup").disabled`)
	br.do("click Hang up", chromedp.Click(chromedp.ID("btn-hangup")))
	br.waitJS("the wrap-up form", `!window.ctidConsole.state.call && !document.getElementById("wrapup").hidden`)
	br.do("fill the wrap-up and send",
		chromedp.SendKeys(chromedp.ID("wu-notes"), "Survived a restart"),
		chromedp.SetValue(chromedp.ID("wu-disposition"), "resolved"),
		chromedp.Click(chromedp.ID("btn-wrapup")),
	)
	br.waitJS("the wrap-up form closed", `document.getElementById("wrapup").hidden && window.ctidConsole.state.agent !== "wrap_up"`)
	waitFor(t, "nothing left in the emulator", func() bool { return len(emu.ChannelIDs()) == 0 && len(emu.Bridges()) == 0 })
	if c := br.console.String(); strings.Contains(c, "Content Security Policy") || strings.Contains(c, "exception") {
		t.Fatalf("the page logged errors:\n%s", c)
	}

	// A clean stop writes every record still queued.
	db := second.stopAndOpenStore(t, dbPath)
	ix, err := db.Interaction(ctx, caller)
	if err != nil {
		t.Fatal(err)
	}
	if list, err := db.InteractionsByNumber(ctx, ix.CallerNumber, 10); err != nil || len(list) != 1 {
		t.Fatalf("records for the caller %q: %d %v (%+v)", ix.CallerNumber, len(list), err, list)
	}
	if ix.Ended.IsZero() || ix.Outcome != "answered" || ix.Disposition != "resolved" || ix.Notes != "Survived a restart" {
		t.Fatalf("the call's record: %+v", ix)
	}
}
