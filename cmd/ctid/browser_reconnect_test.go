package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"github.com/ctid/ctid/telephony/ariemu"
)

// cutProxy relays TCP to ctid and can cut every connection at once and refuse new
// ones: the network between the agent's browser and ctid going away.
type cutProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[net.Conn]bool
	paused bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		if err := ln.Close(); err != nil {
			t.Logf("proxy: %v", err)
		}
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) base() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.paused {
			p.mu.Unlock()
			_ = c.Close() //nolint:errcheck // refused on purpose
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close() //nolint:errcheck // ctid gone
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(up, c) })
		p.wg.Go(func() { p.pipe(c, up) })
	}
}

func (p *cutProxy) pipe(dst, src net.Conn) {
	_, _ = io.Copy(dst, src) //nolint:errcheck // either side closing ends the relay
	for _, c := range []net.Conn{dst, src} {
		_ = c.Close() //nolint:errcheck // both directions end together
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
	}
}

// cut closes every relayed connection abruptly.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) //nolint:errcheck // best effort: a reset, like a dropped network
		}
		_ = c.Close() //nolint:errcheck // cut on purpose
	}
}

func (p *cutProxy) pause(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = on
}

// TestAgentConsoleReconnectsAndResumes: the console's connection to ctid drops; the
// agent is told, the console reconnects by itself with backoff and resumes after
// the last event it saw, so a screen-pop sent while it was away shows up. A second
// connection of the same agent takes over; "Use here" takes it back.
func TestAgentConsoleReconnectsAndResumes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st := startConsoleStack(t, ctx)
	px := newCutProxy(t, strings.TrimPrefix(st.base, "http://"))
	br := startBrowser(t, ctx)
	defer func() {
		if t.Failed() {
			t.Logf("ctid log:\n%s", st.logs.String())
		}
	}()

	br.do("open the console and log in", chromedp.Navigate(px.base()+"/"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "anna"),
		chromedp.SendKeys(chromedp.ID("password"), consolePassword),
		chromedp.Click(chromedp.ID("btn-login")),
	)
	br.waitJS("the desktop socket", "window.ctidConsole.state.ws")
	br.waitJS("Ready enabled", `!document.getElementById("btn-ready").disabled`)
	br.do("click Ready", chromedp.Click(chromedp.ID("btn-ready")))
	br.waitJS("state ready", `window.ctidConsole.state.agent === "ready"`)

	// The network drops: the agent is told and the console keeps trying.
	px.pause(true)
	px.cut()
	br.waitJS("the connection-lost notice", `!window.ctidConsole.state.ws && document.getElementById("conn").textContent.startsWith("Connection lost")`)

	// A call is offered while the console is away.
	caller, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "221234569", CallerName: "Ewa Nowak",
		Dialled: "800", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the offer to anna in ctid's log", func() bool {
		for line := range strings.Lines(st.logs.String()) {
			if strings.Contains(line, `"call_id":"`+caller+`"`) && strings.Contains(line, `"to":"offered"`) {
				return true
			}
		}
		return false
	})
	if eval[bool](br, `!document.getElementById("offer").hidden`) {
		t.Fatal("the offer reached a disconnected console")
	}

	// The network is back: the console reconnects and gets the missed screen-pop.
	px.pause(false)
	br.waitJS("the reconnected socket", "window.ctidConsole.state.ws")
	br.waitJS("the missed screen-pop", `!document.getElementById("offer").hidden && document.getElementById("pop-caller-name").textContent === "Ewa Nowak"`)

	// Another connection of the same agent (a second tab) takes over.
	token := eval[string](br, `sessionStorage.getItem("ctid.token")`)
	ws, _, err := websocket.Dial(ctx, strings.Replace(px.base(), "http", "ws", 1)+"/api/v1/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow() //nolint:errcheck // test teardown
	br.waitJS("the replaced notice", `!window.ctidConsole.state.ws && document.querySelector('[data-id="replaced"]') !== null`)
	br.do("click Use here", chromedp.Click(chromedp.CSS(`[data-id="replaced"] button`)))
	br.waitJS("the console back in charge", "window.ctidConsole.state.ws")
	closed := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				closed <- err
				return
			}
		}
	}()
	// It ends (4001 replaced; through the proxy the close frame can lose the race
	// with the TCP teardown, which the desktop package's own tests pin down).
	select {
	case err := <-closed:
		if code := websocket.CloseStatus(err); code != -1 && code != 4001 {
			t.Fatalf("the other connection closed with %d (%v), want 4001 replaced", code, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the other connection was not replaced")
	}
	// The call is still offered to the console that took over again.
	br.waitJS("the offer still shown", `!document.getElementById("offer").hidden && !document.getElementById("btn-accept").disabled`)

	// The session is revoked while the console is away: back at the sign-in form
	// with an explanation, not an endless reconnect.
	px.pause(true)
	px.cut()
	br.waitJS("the connection-lost notice", `!window.ctidConsole.state.ws`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.base+"/api/v1/logout", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	px.pause(false)
	br.waitJS("the sign-in form with the session-ended notice", `!document.getElementById("login").hidden && document.getElementById("errors").textContent.includes("Your session has ended")`)
}

// TestAgentConsoleMicrophoneDenied: with the microphone blocked the agent gets a
// clear, lasting explanation, and the softphone still connects (receive only) so
// the caller can be heard.
func TestAgentConsoleMicrophoneDenied(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st := startConsoleStack(t, ctx)
	// Without the fake permission UI, so that the denial below applies.
	br := startBrowser(t, ctx, chromedp.Flag("use-fake-ui-for-media-stream", false), chromedp.Flag("deny-permission-prompts", true))
	pctx, pcancel := context.WithTimeout(br.ctx, 20*time.Second)
	defer pcancel()
	if _, err := chromedp.CallBrowser(pctx, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
		Permission: &cdpbrowser.PermissionDescriptor{Name: "microphone"}, Setting: cdpbrowser.PermissionSettingDenied, Origin: st.base,
	}); err != nil {
		t.Fatalf("deny the microphone: %v", err)
	}
	br.do("open the console and log in", chromedp.Navigate(st.base+"/"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), "anna"),
		chromedp.SendKeys(chromedp.ID("password"), consolePassword),
		chromedp.Click(chromedp.ID("btn-login")),
	)
	br.waitJS("the microphone-denied notice", `(document.querySelector('[data-id="mic"]') || {textContent: ""}).textContent.includes("Microphone access was denied")`)
	br.waitJS("receive-only audio connected", `window.ctidConsole.state.rtc === "connected"`)
}
