package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ctid/ctid/telephony/ariemu"
)

// tab opens another tab of b's Chromium (its own sessionStorage: another agent).
func (b *browser) tab() *browser {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("new tab: %v", err)
	}
	return &browser{t: b.t, ctx: ctx, console: &syncBuffer{}}
}

func (b *browser) login(base, user, password string) {
	b.t.Helper()
	b.do("log in as "+user, chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.ID("username")),
		chromedp.SendKeys(chromedp.ID("username"), user),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.ID("btn-login")),
	)
	b.waitJS(user+"'s socket", "window.ctidConsole.state.ws")
	b.waitJS(user+"'s softphone", `window.ctidConsole.state.rtc === "connected"`)
	b.waitJS("Ready enabled", `!document.getElementById("btn-ready").disabled`)
	b.do("click Ready", chromedp.Click(chromedp.ID("btn-ready")))
	b.waitJS(user+" ready", `window.ctidConsole.state.agent === "ready"`)
}

// transferTo fills the transfer form.
func (b *browser) transferTo(kind, target, button string) {
	b.t.Helper()
	eval[bool](b, fmt.Sprintf(`((k) => { const s = document.getElementById("xfer-kind"); s.value = k; s.dispatchEvent(new Event("change")); return true; })(%q)`, kind))
	b.do("transfer to "+target,
		chromedp.SetValue(chromedp.ID("xfer-target"), target),
		chromedp.Click(chromedp.ID(button)),
	)
}

func phaseIs(phase string) string {
	return fmt.Sprintf(`window.ctidConsole.state.call && window.ctidConsole.state.call.phase === %q`, phase)
}

// TestAgentConsoleTransfers: two agents in two tabs. Anna consults Boris about her
// caller (the caller hears music), goes back to the caller, consults again and
// completes the transfer: Boris has the caller and its audio. A second caller is
// blind-transferred to a queue.
func TestAgentConsoleTransfers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	st := startConsoleStack(t, ctx)
	anna := startBrowser(t, ctx)
	defer func() {
		if t.Failed() {
			t.Logf("ctid log:\n%s", st.logs.String())
		}
	}()
	boris := anna.tab()
	anna.login(st.base, "anna", consolePassword)
	boris.login(st.base, "boris", consolePassword)

	caller, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "221234570", CallerName: "Piotr Wiśniewski",
		Dialled: "800", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	anna.waitJS("the offer", `!document.getElementById("btn-accept").disabled`)
	anna.do("accept", chromedp.Click(chromedp.ID("btn-accept")))
	anna.waitJS("talking", phaseIs("talking"))

	// Consult Boris: the caller waits with music, Boris talks to Anna.
	if !anna.evalBool(`!document.getElementById("btn-xfer-consult").disabled`) {
		t.Fatal("Consult first disabled while talking to an agent target")
	}
	anna.transferTo("agent", "boris", "btn-xfer-consult")
	anna.waitJS("consulting Boris", phaseIs("consulting")+` && window.ctidConsole.state.call && document.getElementById("consult-status").textContent.includes("boris") && !document.getElementById("btn-xfer-complete").disabled`)
	boris.waitJS("Boris in the consultation", phaseIs("talking"))
	waitFor(t, "music on hold for the caller", func() bool { ch, ok := st.emu.Channel(caller); return ok && ch.MOH })

	// Back to the caller.
	anna.do("back to the caller", chromedp.Click(chromedp.ID("btn-xfer-cancel")))
	anna.waitJS("talking to the caller again", phaseIs("talking")+` && document.getElementById("consult").hidden`)
	boris.waitJS("Boris's consultation over", `!window.ctidConsole.state.call && document.getElementById("wrapup").hidden`)
	waitFor(t, "no more music for the caller", func() bool { ch, ok := st.emu.Channel(caller); return ok && !ch.MOH })

	// Consult again and complete: Boris has the caller.
	boris.waitJS("Boris free again", `window.ctidConsole.state.agent === "ready"`)
	anna.transferTo("agent", "boris", "btn-xfer-consult")
	anna.waitJS("Complete enabled", phaseIs("consulting")+` && !document.getElementById("btn-xfer-complete").disabled`)
	boris.waitJS("Boris in the consultation", phaseIs("talking"))
	anna.do("complete the transfer", chromedp.Click(chromedp.ID("btn-xfer-complete")))
	anna.waitJS("Anna's call gone", `!window.ctidConsole.state.call`)
	boris.waitJS("Boris has the caller", phaseIs("talking")+` && window.ctidConsole.state.call.id === `+fmt.Sprintf("%q", caller))
	base := eval[int](boris, packetsReceivedJS)
	waitFor(t, "the caller's audio at Boris", func() bool { return eval[int](boris, packetsReceivedJS) >= base+25 })
	boris.do("Boris hangs up", chromedp.Click(chromedp.ID("btn-hangup")))
	boris.waitJS("Boris's wrap-up form", `!document.getElementById("wrapup").hidden`)

	// Anna wraps up her part, takes another caller and sends it to a queue.
	anna.waitJS("Anna's wrap-up form", `!document.getElementById("wrapup").hidden`)
	anna.do("wrap up", chromedp.SetValue(chromedp.ID("wu-disposition"), "resolved"), chromedp.Click(chromedp.ID("btn-wrapup")))
	anna.waitJS("Anna ready", `document.getElementById("wrapup").hidden && window.ctidConsole.state.agent === "ready"`)
	caller2, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "221234571", Dialled: "800", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	anna.waitJS("the second offer", `!document.getElementById("btn-accept").disabled`)
	anna.do("accept", chromedp.Click(chromedp.ID("btn-accept")))
	anna.waitJS("talking", phaseIs("talking"))
	anna.transferTo("queue", "support", "btn-xfer-blind")
	anna.waitJS("the transferred notice", `!window.ctidConsole.state.call && document.getElementById("errors").textContent.includes("Call transferred to support")`)
	waitFor(t, "the caller waiting in support with music", func() bool { ch, ok := st.emu.Channel(caller2); return ok && ch.MOH })
	if strings.Contains(anna.console.String()+boris.console.String(), "exception") {
		t.Fatalf("the page logged exceptions:\n%s", anna.console.String())
	}
}

func (b *browser) evalBool(expr string) bool { return eval[bool](b, "Boolean("+expr+")") }
