package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/spf13/viper"
	"golang.org/x/crypto/bcrypt"

	"github.com/ctid/ctid/telephony/ariemu"
)

// chromiumPath finds Debian's Chromium (make test-prereqs installs it). A missing
// browser fails the test: the console is only proven in a real one.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CTID_CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatal("Chromium is not installed: the agent console test needs a real browser. " +
		"Run `make test-prereqs` (it runs `apt-get install -y chromium`), or set CTID_CHROMIUM to a Chromium binary.")
	return ""
}

// consoleStack is ctid serving on the embedded emulator, as `ctid serve` runs it.
type consoleStack struct {
	base string
	emu  *ariemu.Emulator
	logs *syncBuffer
}

const consolePassword = "anna-console-pw"

func startConsoleStack(t *testing.T, ctx context.Context) *consoleStack {
	t.Helper()
	return startConsoleStackWith(t, ctx, nil)
}

// startConsoleStackWith starts the stack with its configuration file edited by tweak.
func startConsoleStackWith(t *testing.T, ctx context.Context, tweak func(yaml string) string) *consoleStack {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(consolePassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
server: {listen: "127.0.0.1:0"}
log: {level: info, format: json}
asterisk: {mode: emulator, app: ctid}
emulator: {listen: "127.0.0.1:0", username: emu, password: ""}
store: {driver: sqlite, path: %q}
calls: {offer_timeout: 60s, default_region: PL}
queues:
  - id: sales
    strategy: longest-idle
    members: [anna]
    wrapup: 60s
    service_level: 20s
    script: "Thank you for calling. May I have your customer number?"
    crm_link: "https://crm.example/search?phone={caller}"
  - id: support
    strategy: longest-idle
    members: [boris]
    wrapup: 60s
agents:
  - id: anna
    skills: "lang:pl=5"
  - id: boris
desktop:
  auth:
    users:
      - {username: anna, display_name: Anna Nowak, role: agent, password_hash: %q}
      - {username: boris, display_name: Boris Kowalski, role: agent, password_hash: %q}
softphone:
  enabled: true
  media_port_min: 46100
  media_port_max: 46199
  media_bind_ip: 127.0.0.1
  ice_network_types: [udp4]
  ice_include_loopback: true
  ice_interfaces: [lo]
`, filepath.Join(dir, "ctid.db"), string(hash), string(hash))
	if tweak != nil {
		cfg = tweak(cfg)
	}
	path := filepath.Join(dir, "ctid.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	fc, err := loadConfig(viper.New(), path)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := newLogger(logs, "json", "info")
	sctx, cancel := context.WithCancel(ctx)
	infoc := make(chan serveInfo, 1)
	done := make(chan error, 1)
	go func() { done <- serve(sctx, fc, log, func(i serveInfo) { infoc <- i }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	var info serveInfo
	select {
	case info = <-infoc:
	case err := <-done:
		t.Fatalf("serve exited: %v\n%s", err, logs.String())
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start")
	}
	st := &consoleStack{base: "http://" + info.Addr.String(), emu: info.Emu, logs: logs}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(st.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ctid never ready\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return st
}

// browser drives one headless Chromium tab.
type browser struct {
	t       *testing.T
	ctx     context.Context
	console *syncBuffer
}

func startBrowser(t *testing.T, ctx context.Context, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	exe := chromiumPath(t)
	// No UserDataDir option: chromedp makes a fresh temporary user-data-dir and
	// removes it once Chromium and its children have exited.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.WindowSize(1280, 1100),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns,Translate"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: bctx, console: &syncBuffer{}}
	// Start the browser now (the first Run owns it; no timeout on this context).
	if err := chromedp.Do(bctx); err != nil {
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("Chromium %s did not start: %v", exe, err)
	}
	var wg sync.WaitGroup
	messages := chromedp.Console(bctx)
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			fmt.Fprintf(b.console, "%s: %s\n", m.Type, m.Text)
		}
	})
	t.Cleanup(func() {
		if err := chromedp.Cancel(bctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("closing Chromium: %v", err)
		}
		cancelBrowser()
		cancelAlloc()
		wg.Wait()
		if t.Failed() {
			t.Logf("browser console:\n%s", b.console.String())
		}
	})
	return b
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) into T.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// waitJS polls a boolean expression until it is true.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !eval[bool](b, "Boolean("+expr+")") {
		if time.Now().After(deadline) {
			state := eval[string](b, "JSON.stringify(window.ctidConsole ? window.ctidConsole.state : null)")
			b.t.Fatalf("waiting for %s (%s): timed out; console state %s", what, expr, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// screenshot saves a PNG of the page to bin/test-artifacts/name.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join("..", "..", "bin", "test-artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// packetsReceived is the browser's inbound-rtp audio packet count (getStats).
const packetsReceivedJS = `(async () => {
  const pc = window.ctidConsole.pc; if (!pc) return 0;
  let n = 0;
  (await pc.getStats()).forEach(r => { if (r.type === "inbound-rtp" && r.kind === "audio") n += r.packetsReceived || 0; });
  return n;
})()`

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: timed out", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAgentConsoleInChromium is the agent console end to end in a real headless
// Chromium with a fake microphone: log in, go Ready, get a screen-pop, accept,
// audio both ways through the WebRTC gateway and an emulated ExternalMedia leg,
// hold (music on hold, the agent's audio stops), resume, hang up, wrap up, and
// the disposition is stored.
func TestAgentConsoleInChromium(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st := startConsoleStack(t, ctx)
	br := startBrowser(t, ctx)
	defer func() {
		if t.Failed() {
			t.Logf("ctid log:\n%s", st.logs.String())
		}
	}()

	// Log in.
	br.do("open the console", chromedp.Navigate(st.base+"/"), chromedp.WaitVisible(chromedp.ID("username")))
	if title := eval[string](br, "document.title"); !strings.Contains(title, "agent console") {
		t.Fatalf("title %q", title)
	}
	br.do("log in",
		chromedp.SendKeys(chromedp.ID("username"), "anna"),
		chromedp.SendKeys(chromedp.ID("password"), consolePassword),
		chromedp.Click(chromedp.ID("btn-login")),
	)
	br.waitJS("the desktop socket", "window.ctidConsole.state.ws")
	br.waitJS("the softphone connected over ICE on loopback", `window.ctidConsole.state.rtc === "connected"`)
	br.waitJS("the state bar", `document.getElementById("agent-name").textContent === "Anna Nowak"`)

	// Polish and English: the browser's language by default, switchable.
	const switchLang = `((l) => { const s = document.getElementById("lang"); s.value = l; s.dispatchEvent(new Event("change"));
	  return document.documentElement.lang + ":" + document.getElementById("btn-ready").textContent; })`
	if got := eval[string](br, switchLang+`("pl")`); got != "pl:Gotowy" {
		t.Fatalf("switching to Polish: %q", got)
	}
	if got := eval[string](br, switchLang+`("en")`); got != "en:Ready" {
		t.Fatalf("switching back to English: %q", got)
	}

	// Every form control has a label, every button a name.
	if bad := eval[[]string](br, `[...document.querySelectorAll("input, select, textarea")].filter(e => !e.labels.length && !e.getAttribute("aria-label")).map(e => e.id)
	  .concat([...document.querySelectorAll("button")].filter(e => !(e.getAttribute("aria-label") || e.textContent.trim())).map(e => e.id || e.outerHTML))`); len(bad) > 0 {
		t.Fatalf("controls without a label or name: %v", bad)
	}

	// Ready.
	br.waitJS("Ready enabled", `!document.getElementById("btn-ready").disabled`)
	br.do("click Ready", chromedp.Click(chromedp.ID("btn-ready")))
	br.waitJS("state ready", `window.ctidConsole.state.agent === "ready"`)

	// A caller arrives: the screen-pop shows in the DOM.
	caller, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "221234567", CallerName: "Jan Kowalski",
		Dialled: "800", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	br.waitJS("the incoming-call toast", `!document.getElementById("offer").hidden && !document.getElementById("btn-accept").disabled`)
	pop := eval[map[string]string](br, `({
	  name: document.getElementById("pop-caller-name").textContent,
	  number: document.getElementById("pop-number").textContent,
	  queue: document.getElementById("pop-queue").textContent,
	  script: document.getElementById("pop-script").textContent,
	  crm: (document.querySelector("#pop-links a") || {}).href || ""})`)
	if pop["name"] != "Jan Kowalski" || pop["number"] != "+48221234567" || pop["queue"] != "sales" ||
		!strings.Contains(pop["script"], "customer number") || !strings.HasPrefix(pop["crm"], "https://crm.example/search?phone=") {
		t.Fatalf("screen-pop in the DOM: %v", pop)
	}
	br.screenshot("console-screenpop.png")

	// Accept: audio both ways.
	br.do("click Accept", chromedp.Click(chromedp.ID("btn-accept")))
	br.waitJS("talking", `window.ctidConsole.state.call && window.ctidConsole.state.call.phase === "talking"`)
	var first int
	waitFor(t, "25 packets from the caller in the browser (getStats inbound-rtp)", func() bool {
		first = eval[int](br, packetsReceivedJS)
		return first >= 25
	})
	waitFor(t, "inbound-rtp packetsReceived rising", func() bool { return eval[int](br, packetsReceivedJS) >= first+25 })
	agentLeg := caller + "-agent"
	waitFor(t, "25 packets from the browser's microphone at the emulator", func() bool {
		_, got := st.emu.RTPStats(agentLeg)
		return got >= 25
	})
	br.waitJS("the accept-to-audio measurement", `window.ctidConsole.metrics.acceptToAudioMs !== null`)
	ms := eval[float64](br, "window.ctidConsole.metrics.acceptToAudioMs")
	t.Logf("accept → first inbound audio packet at the browser: %.1f ms", ms)
	br.screenshot("console-call.png")

	// Keypad: DTMF to the caller.
	br.do("press 5 on the keypad", chromedp.Click(chromedp.CSS(`#dtmf-pad button[aria-label="DTMF 5"]`)))
	waitFor(t, "DTMF 5 sent to the caller", func() bool { return countARI(st.emu, "POST", "/channels/{channelId}/dtmf", "dtmf", "5") == 1 })
	// Mute with the button, unmute with Alt+M.
	mutes, unmutes := countARI(st.emu, "POST", "/channels/{channelId}/mute", "", ""), countARI(st.emu, "DELETE", "/channels/{channelId}/mute", "", "")
	br.do("click Mute", chromedp.Click(chromedp.ID("btn-mute")))
	br.waitJS("muted", `document.getElementById("btn-mute").getAttribute("aria-pressed") === "true"`)
	waitFor(t, "the agent leg muted", func() bool { return countARI(st.emu, "POST", "/channels/{channelId}/mute", "", "") == mutes+1 })
	br.do("Alt+M", chromedp.KeyEvent("m", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	br.waitJS("unmuted", `document.getElementById("btn-mute").getAttribute("aria-pressed") === "false"`)
	waitFor(t, "the agent leg unmuted", func() bool { return countARI(st.emu, "DELETE", "/channels/{channelId}/mute", "", "") == unmutes+1 })

	// Hold: music on hold for the caller, the agent's audio stops.
	br.do("click Hold", chromedp.Click(chromedp.ID("btn-hold")))
	br.waitJS("held", `window.ctidConsole.state.call.phase === "held"`)
	waitFor(t, "music on hold on the caller", func() bool {
		ch, ok := st.emu.Channel(caller)
		return ok && ch.MOH
	})
	// Packets from the agent stop: the count stays the same over a whole second.
	var held int
	waitFor(t, "the agent's packets to the caller to stop", func() bool {
		_, a := st.emu.RTPStats(agentLeg)
		time.Sleep(time.Second)
		_, b := st.emu.RTPStats(agentLeg)
		held = b
		return a == b
	})
	if txt := eval[string](br, `document.getElementById("btn-hold").textContent`); txt != "Resume" {
		t.Fatalf("hold button says %q while held", txt)
	}

	// Resume (keyboard shortcut Alt+O): no more music, the agent's audio flows again.
	br.do("Alt+O", chromedp.KeyEvent("o", chromedp.KeyModifiers(chromedp.ModifierAlt)))
	br.waitJS("talking again", `window.ctidConsole.state.call.phase === "talking"`)
	waitFor(t, "music on hold stopped", func() bool {
		ch, ok := st.emu.Channel(caller)
		return ok && !ch.MOH
	})
	waitFor(t, "the agent's packets flowing again", func() bool {
		_, got := st.emu.RTPStats(agentLeg)
		return got >= held+25
	})

	// Hang up, wrap up.
	br.do("click Hang up", chromedp.Click(chromedp.ID("btn-hangup")))
	br.waitJS("the wrap-up form", `!window.ctidConsole.state.call && !document.getElementById("wrapup").hidden`)
	br.waitJS("wrap-up state with its countdown", `window.ctidConsole.state.agent === "wrap_up" && /^\d+:\d\d$/.test(document.getElementById("wrapup-countdown").textContent)`)
	br.screenshot("console-wrapup.png")
	br.do("type the notes", chromedp.SendKeys(chromedp.ID("wu-notes"), "Invoice 42 explained"))
	// A reload during wrap-up keeps the form and the draft.
	br.do("reload during wrap-up", chromedp.Reload())
	br.waitJS("the wrap-up form after a reload", `!document.getElementById("wrapup").hidden && document.getElementById("wu-notes").value === "Invoice 42 explained"`)
	br.do("pick the disposition and send", chromedp.SetValue(chromedp.ID("wu-disposition"), "resolved"), chromedp.Click(chromedp.ID("btn-wrapup")))
	br.waitJS("the wrap-up form closed", `document.getElementById("wrapup").hidden`)

	token := eval[string](br, `sessionStorage.getItem("ctid.token")`)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.base+"/api/v1/interactions/"+caller, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ix map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&ix); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || ix["disposition"] != "resolved" || ix["notes"] != "Invoice 42 explained" {
		t.Fatalf("interaction %s: %d %v", caller, resp.StatusCode, ix)
	}
	// A reload (F5 during the shift) keeps the session and sets up audio again.
	br.do("reload", chromedp.Reload())
	br.waitJS("the desktop socket after a reload", "window.ctidConsole.state.ws")
	br.waitJS("the softphone after a reload", `window.ctidConsole.state.rtc === "connected"`)
	// Wrap-up done made the agent ready again; the reloaded page shows it (snapshot).
	br.waitJS("state ready after a reload", `window.ctidConsole.state.agent === "ready" && document.getElementById("btn-ready").disabled`)
	caller2, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "221234568", Dialled: "800", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	br.waitJS("the second offer", `!document.getElementById("offer").hidden && !document.getElementById("btn-accept").disabled`)
	br.do("click Accept", chromedp.Click(chromedp.ID("btn-accept")))
	base := eval[int](br, packetsReceivedJS)
	waitFor(t, "audio of the second call in the reloaded page", func() bool { return eval[int](br, packetsReceivedJS) >= base+25 })
	waitFor(t, "the reloaded page's microphone at the emulator", func() bool {
		_, got := st.emu.RTPStats(caller2 + "-agent")
		return got >= 25
	})

	// A reload in the middle of the call: the page gets the call back from the
	// snapshot and its audio moves to the new peer connection (same RTP port).
	br.do("reload during the call", chromedp.Reload())
	br.waitJS("the call back after a reload", `window.ctidConsole.state.call && window.ctidConsole.state.call.phase === "talking" && window.ctidConsole.state.call.id === `+strconv.Quote(caller2))
	br.waitJS("the screen-pop kept across the reload", `document.getElementById("pop-number").textContent === "+48221234568"`)
	br.waitJS("the softphone after a reload mid-call", `window.ctidConsole.state.rtc === "connected"`)
	waitFor(t, "the call's audio in the reloaded page", func() bool { return eval[int](br, packetsReceivedJS) >= 25 })
	_, before := st.emu.RTPStats(caller2 + "-agent")
	waitFor(t, "the reloaded page's microphone reaching the caller", func() bool {
		_, got := st.emu.RTPStats(caller2 + "-agent")
		return got >= before+25
	})
	br.waitJS("Hang up enabled", `!document.getElementById("btn-hangup").disabled`)
	br.do("click Hang up", chromedp.Click(chromedp.ID("btn-hangup")))
	br.waitJS("the wrap-up form after the reloaded call", `!window.ctidConsole.state.call && !document.getElementById("wrapup").hidden`)
	br.do("wrap up the second call",
		chromedp.SetValue(chromedp.ID("wu-disposition"), "follow_up"),
		chromedp.Click(chromedp.ID("btn-wrapup")),
	)
	br.waitJS("the wrap-up form closed", `document.getElementById("wrapup").hidden`)

	if c := br.console.String(); strings.Contains(c, "Content Security Policy") || strings.Contains(c, "exception") {
		t.Fatalf("the page logged errors:\n%s", c)
	}
}

// countARI counts the ARI requests the emulator served with method and route
// template (and, when key is set, that query value), answered 2xx.
func countARI(emu *ariemu.Emulator, method, path, key, value string) int {
	n := 0
	for _, r := range emu.Requests() {
		if r.Method == method && r.Path == path && r.Status/100 == 2 && (key == "" || r.Query.Get(key) == value) {
			n++
		}
	}
	return n
}
