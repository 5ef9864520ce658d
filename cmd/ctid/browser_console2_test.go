package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ctid/ctid/telephony/ariemu"
)

// i18nJS is the console's text for key in the page's language.
func i18nJS(key string, args string) string {
	return fmt.Sprintf(`window.ctidI18n.t(%q, %s)`, key, args)
}

// dialAndWaitRefusal types a number into the manual dial form and waits for the
// refusal text.
func (b *browser) dialAndWaitRefusal(number, want string) {
	b.t.Helper()
	b.do("dial "+number, chromedp.SetValue(chromedp.ID("dial-number"), number))
	b.click("dial "+number, "btn-dial")
	b.waitJS("the refusal of "+number, `document.getElementById("dial-error").textContent === `+want)
}

// click presses a button by script: notices come and go above the cards, so a
// click at coordinates computed a moment earlier may land elsewhere.
func (b *browser) click(what, id string) {
	b.t.Helper()
	b.waitJS(what+": "+id+" enabled", fmt.Sprintf(`(() => { const e = document.getElementById(%q); return e && !e.disabled && !e.closest("[hidden]"); })()`, id))
	eval[bool](b, fmt.Sprintf(`(() => { document.getElementById(%q).click(); return true; })()`, id))
}

// TestAgentConsoleDialPreviewAndDispositions: the manual dial is refused clearly
// (no outside line configured; a do-not-call number), the STUN/TURN servers reach
// the browser's peer connection, the wrap-up form offers the queue's dispositions
// (the callback time only for a callback one), and a preview campaign shows its
// contact card — Skip and Dial — with the campaign's dispositions after the call.
func TestAgentConsoleDialPreviewAndDispositions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// A ctid without calls.external_endpoint: manual dial is not set up.
	plain := startConsoleStack(t, ctx)
	br := startBrowser(t, ctx)
	br.login(plain.base, "anna", consolePassword)
	br.dialAndWaitRefusal("+48221234567", i18nJS("dial.noEndpoint", "{}"))

	st := startConsoleStackWith(t, ctx, func(y string) string {
		y = strings.Replace(y, "calls: {offer_timeout: 60s, default_region: PL}",
			`calls: {offer_timeout: 60s, default_region: PL, external_endpoint: "Local/{number}@callers"}`, 1)
		y = strings.Replace(y, `    crm_link: "https://crm.example/search?phone={caller}"`, `    crm_link: "https://crm.example/search?phone={caller}"
    dispositions:
      - {code: resolved, label: "Resolved on the call", final: true}
      - {code: call_back, label: "Customer wants a call back", callback: true}`, 1)
		// sam, a supervisor, with the agents' password
		_, hash, _ := strings.Cut(y, "role: agent, password_hash: ")
		hash, _, _ = strings.Cut(hash, "}")
		y = strings.Replace(y, "      - {username: boris,", "      - {username: sam, role: supervisor, teams: [sales], password_hash: "+hash+"}\n      - {username: boris,", 1)
		y = strings.Replace(y, "  ice_interfaces: [lo]", "  ice_interfaces: [lo]\n  ice_servers:\n    - {urls: [\"stun:127.0.0.1:9\"]}", 1)
		return y
	})
	defer func() {
		if t.Failed() {
			t.Logf("ctid log:\n%s", st.logs.String())
		}
	}()
	anna := br.tab()
	anna.login(st.base, "anna", consolePassword)
	if got := eval[string](anna, `JSON.stringify(window.ctidConsole.iceServers)`); got != `[{"urls":["stun:127.0.0.1:9"]}]` {
		t.Fatalf("ICE servers in the console: %s", got)
	}
	if got := eval[string](anna, `JSON.stringify(window.ctidConsole.pc.getConfiguration().iceServers.map(s => s.urls))`); got != `[["stun:127.0.0.1:9"]]` {
		t.Fatalf("ICE servers of the peer connection: %s", got)
	}

	// A do-not-call number is refused, and says so.
	sam := loginToken(t, st.base, "sam", consolePassword)
	if code, body := restCall(t, http.MethodPost, st.base+"/api/v1/dnc", sam, "application/json", `{"number":"+48221234599","reason":"asked"}`); code/100 != 2 {
		t.Fatalf("dnc add: %d %s", code, body)
	}
	anna.dialAndWaitRefusal("+48221234599", i18nJS("dial.dnc", `{number: "+48221234599"}`))

	const pick = `((v) => { const s = document.getElementById("wu-disposition"); s.value = v; s.dispatchEvent(new Event("change")); return true; })`
	// A manual dial that is answered: an outbound call with nothing to accept, then
	// the wrap-up form with the dial's dispositions.
	anna.do("type a customer's number", chromedp.SetValue(chromedp.ID("dial-number"), "+48221234577"))
	anna.click("dial a customer", "btn-dial")
	anna.waitJS("the manual call connected", phaseIs("talking"))
	if !anna.evalBool(`document.getElementById("offer").hidden && document.getElementById("dial-error").textContent === ""`) {
		t.Fatal("a manual dial shows the offer toast or an error")
	}
	anna.click("hang up the manual call", "btn-hangup")
	anna.waitJS("the manual call's wrap-up form", `!document.getElementById("wrapup").hidden`)
	if got := eval[string](anna, `[...document.getElementById("wu-disposition").options].map(o => o.value).join(",")`); !strings.Contains(got, ",no_decision") {
		t.Fatalf("manual dial dispositions: %q", got)
	}
	eval[bool](anna, pick+`("no_decision")`)
	anna.click("wrap up the manual call", "btn-wrapup")
	anna.waitJS("the manual call's wrap-up closed", `document.getElementById("wrapup").hidden`)
	anna.waitJS("ready after the manual call", `window.ctidConsole.state.agent === "ready"`)

	// An inbound call: the wrap-up form lists the queue's dispositions.
	caller, err := st.emu.InjectCall(ctx, ariemu.CallSpec{CallerNumber: "221234567", CallerName: "Jan Kowalski",
		Dialled: "800", Args: []string{"inbound", "sales"}, Behaviour: "talk"})
	if err != nil {
		t.Fatal(err)
	}
	anna.waitJS("the offer", phaseIs("offered"))
	anna.click("accept", "btn-accept")
	anna.waitJS("talking", phaseIs("talking"))
	anna.click("hang up", "btn-hangup")
	anna.waitJS("the wrap-up form", `!document.getElementById("wrapup").hidden`)
	if got := eval[string](anna, `[...document.getElementById("wu-disposition").options].map(o => o.value + "=" + o.textContent).join("|")`); got !=
		"=—|resolved=Resolved on the call|call_back=Customer wants a call back" {
		t.Fatalf("wrap-up dispositions: %q", got)
	}
	if !anna.evalBool(`document.getElementById("wu-callback-row").hidden`) {
		t.Fatal("the callback time shows before a callback disposition is chosen")
	}
	eval[bool](anna, pick+`("call_back")`)
	anna.waitJS("the callback time", `!document.getElementById("wu-callback-row").hidden`)
	anna.click("Done without a time", "btn-wrapup")
	anna.waitJS("asked for the time", `[...document.querySelectorAll("#errors .notice")].some(n => n.textContent.includes(`+i18nJS("wrapup.needCallback", "{}")+`))`)
	cb := time.Now().Add(48 * time.Hour).Format("2006-01-02T15:04")
	anna.do("set the callback time", chromedp.SetValue(chromedp.ID("wu-callback"), cb))
	anna.click("Done with the time", "btn-wrapup")
	anna.waitJS("the wrap-up form closed", `document.getElementById("wrapup").hidden`)
	token := eval[string](anna, `sessionStorage.getItem("ctid.token")`)
	code, body := restCall(t, http.MethodGet, st.base+"/api/v1/interactions/"+caller, token, "", "")
	var ix map[string]any
	if err := json.Unmarshal([]byte(body), &ix); err != nil || code != 200 || ix["disposition"] != "call_back" {
		t.Fatalf("interaction %s: %d %s", caller, code, body)
	}

	// A preview campaign: the card shows the contact; Skip, then Dial the next one.
	def := `{"id":"renew","name":"Spring renewals","mode":"preview","endpoint":"Local/{number}@callers",
	  "agents":["anna"],"default_region":"PL","windows":[{"days":["mon","tue","wed","thu","fri","sat","sun"],"from":"00:00","to":"24:00"}],
	  "dispositions":[{"code":"renewed","label":"Renewed","final":true,"sale":true},{"code":"later","label":"Call me later","callback":true},{"code":"no","label":"Not now","final":true}]}`
	if code, body := restCall(t, http.MethodPost, st.base+"/api/v1/campaigns", sam, "application/json", def); code != http.StatusCreated {
		t.Fatalf("create campaign: %d %s", code, body)
	}
	csv := "first_name,last_name,phone,plan\nAda,Lovelace,221234501,gold\nBolek,Lolek,221234502,silver\n"
	if code, body := restCall(t, http.MethodPost, st.base+"/api/v1/campaigns/renew/lists", sam, "text/csv", csv); code != http.StatusCreated {
		t.Fatalf("upload: %d %s", code, body)
	}
	anna.waitJS("ready again", `window.ctidConsole.state.agent === "ready"`)
	samWS := dialWS(t, ctx, st.base, sam)
	if r, err := samWS.do(ctx, "campaign.start", map[string]any{"campaign_id": "renew"}); err != nil || replyErr(r) != "" {
		t.Fatalf("campaign.start: %v %v", err, r)
	}
	anna.waitJS("the preview card", `!document.getElementById("preview").hidden`)
	first := eval[string](anna, `document.getElementById("preview-name").textContent`)
	if got := eval[string](anna, `document.getElementById("preview-campaign").textContent + "|" + document.getElementById("preview-fields").textContent`); !strings.HasPrefix(got, "Spring renewals|") || !strings.Contains(got, "plan") {
		t.Fatalf("preview card: %q (contact %q)", got, first)
	}
	if !anna.evalBool(`document.getElementById("offer").hidden && document.getElementById("btn-dial").disabled`) {
		t.Fatal("a preview shows the offer toast or leaves manual dial enabled")
	}
	anna.screenshot("console-preview.png")
	anna.click("skip", "btn-preview-skip")
	anna.waitJS("the next contact", `!document.getElementById("preview").hidden && document.getElementById("preview-name").textContent !== `+fmt.Sprintf("%q", first))
	anna.click("dial", "btn-preview-dial")
	anna.waitJS("the outbound call connected", phaseIs("talking"))
	if got := eval[string](anna, `document.getElementById("pop-queue-label").textContent + "=" + document.getElementById("pop-queue").textContent + "|" + document.getElementById("pop-crm").textContent`); !strings.HasPrefix(got, "Campaign=Spring renewals|") || !strings.Contains(got, "plan") {
		t.Fatalf("outbound screen-pop: %q", got)
	}
	anna.click("hang up the outbound call", "btn-hangup")
	anna.waitJS("the campaign wrap-up form", `!document.getElementById("wrapup").hidden`)
	if got := eval[string](anna, `[...document.getElementById("wu-disposition").options].map(o => o.value).join(",")`); got != ",renewed,later,no" {
		t.Fatalf("campaign dispositions: %q", got)
	}
	eval[bool](anna, pick+`("renewed")`)
	anna.click("record the sale", "btn-wrapup")
	anna.waitJS("the campaign wrap-up closed", `document.getElementById("wrapup").hidden`)
	if c := anna.console.String() + br.console.String(); strings.Contains(c, "Content Security Policy") || strings.Contains(c, "exception") {
		t.Fatalf("the page logged errors:\n%s", c)
	}
}
