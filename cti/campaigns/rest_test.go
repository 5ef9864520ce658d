package campaigns

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue/dialer"
)

type nopHandler struct{}

func (nopHandler) HandleCommand(context.Context, desktop.Principal, desktop.Command) (desktop.Result, error) {
	return desktop.Result{}, desktop.Errorf(desktop.CodeInvalidArgument, "no commands here")
}
func (nopHandler) Snapshot(context.Context, desktop.Principal) (map[string]any, error) {
	return map[string]any{}, nil
}
func (nopHandler) SessionOpened(desktop.Principal)         {}
func (nopHandler) SessionClosed(desktop.Principal, string) {}

type harness struct {
	url   string
	st    *store.Store
	dnc   *DNC
	srv   *desktop.Server
	mu    sync.Mutex
	audit []store.AuditEntry
	toks  map[string]string
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	cfg := store.DefaultConfig()
	cfg.Path = filepath.Join(t.TempDir(), "ctid.db")
	cfg.Writer.FlushInterval = 10 * time.Millisecond
	st, err := store.Open(testCtx(t), cfg, zerolog.Nop())
	require.NoError(t, err)
	dnc, err := LoadDNC(testCtx(t), st)
	require.NoError(t, err)
	h := &harness{st: st, dnc: dnc, toks: map[string]string{}}
	api, err := NewAPI(Params{Store: st, DNC: dnc, Log: zerolog.Nop(), Config: Config{DefaultRegion: "GB"},
		Audit: func(e store.AuditEntry) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.audit = append(h.audit, e)
			return nil
		}})
	require.NoError(t, err)
	hash, err := desktop.HashPassword("secret-pass", 4)
	require.NoError(t, err)
	dc := desktop.DefaultConfig()
	dc.Auth.Users = []desktop.UserConfig{
		{Username: "anna", Role: "agent", PasswordHash: hash},
		{Username: "sam", Role: "supervisor", PasswordHash: hash},
		{Username: "ada", Role: "admin", PasswordHash: hash},
	}
	srv, err := desktop.NewServer(dc, nopHandler{}, zerolog.Nop())
	require.NoError(t, err)
	require.NoError(t, api.Register(srv))
	h.srv = srv
	mux := http.NewServeMux()
	srv.Routes(mux)
	web := httptest.NewServer(mux)
	h.url = web.URL
	t.Cleanup(func() {
		web.Close()
		require.NoError(t, srv.Shutdown(context.Background()))
		require.NoError(t, st.Close())
	})
	for _, u := range []string{"anna", "sam", "ada"} {
		code, body := h.do(t, "", http.MethodPost, "/api/v1/login", "application/json",
			strings.NewReader(`{"username":"`+u+`","password":"secret-pass"}`))
		require.Equal(t, http.StatusOK, code, body)
		var lr struct{ Token string }
		require.NoError(t, json.Unmarshal([]byte(body), &lr))
		h.toks[u] = lr.Token
	}
	return h
}

func (h *harness) do(t *testing.T, user, method, path, ctype string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, h.url+path, body)
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if user != "" {
		req.Header.Set("Authorization", "Bearer "+h.toks[user])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func errCode(t *testing.T, body string) string {
	t.Helper()
	var e struct{ Error desktop.Error }
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	return e.Error.Code
}

const spring = `{"id":"spring","name":"Spring offer","mode":"predictive","endpoint":"PJSIP/{number}@trunk",
  "agents":["anna"],"default_region":"GB","caller_id":"020 7946 0999",
  "windows":[{"days":["mon","tue","wed","thu","fri"],"from":"09:00","to":"21:00"}],
  "retry":{"busy":{"after":"10m"}},"ring_timeout":"25s"}`

func TestOpenAPIDocumentsTheCampaignRoutes(t *testing.T) {
	h := newHarness(t)
	spec, err := os.ReadFile("../../docs/openapi.yaml")
	require.NoError(t, err)
	require.NoError(t, desktop.CheckOpenAPI(spec, h.srv.RouteTable(), "campaigns"))
}

func TestCampaignCRUDAndValidation(t *testing.T) {
	h := newHarness(t)
	code, body := h.do(t, "anna", http.MethodPost, "/api/v1/campaigns", "application/json", strings.NewReader(spring))
	require.Equal(t, http.StatusForbidden, code, "agents cannot create campaigns: %s", body)

	code, body = h.do(t, "sam", http.MethodPost, "/api/v1/campaigns", "application/json", strings.NewReader(spring))
	require.Equal(t, http.StatusCreated, code, body)
	var c struct {
		ID, State  string
		Definition Definition
	}
	require.NoError(t, json.Unmarshal([]byte(body), &c))
	require.Equal(t, "draft", c.State)
	require.Equal(t, Duration(25*time.Second), c.Definition.RingTimeout)
	code, body = h.do(t, "sam", http.MethodPost, "/api/v1/campaigns", "application/json", strings.NewReader(spring))
	require.Equal(t, http.StatusConflict, code, body)

	for _, tc := range []struct{ name, patch, want string }{
		{"no {number}", `"endpoint":"PJSIP/trunk"`, "has no {number}"},
		{"no agents", `"agents":[]`, "no agents"},
		{"ring timeout", `"ring_timeout":"10s"`, "ring timeout 10s"},
		{"window", `"windows":[{"days":["mon"],"from":"21:00","to":"09:00"}]`, "window 1"},
		{"region", `"default_region":"XX"`, "default_region"},
		{"mode", `"mode":"robocall"`, "mode"},
		{"retry", `"retry":{"sometimes":{"after":"1m"}}`, "retry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(spring), &m))
			var p map[string]any
			require.NoError(t, json.Unmarshal([]byte("{"+tc.patch+"}"), &p))
			for k, v := range p {
				m[k] = v
			}
			m["id"] = "bad"
			b, err := json.Marshal(m)
			require.NoError(t, err)
			code, body := h.do(t, "sam", http.MethodPost, "/api/v1/campaigns", "application/json", bytes.NewReader(b))
			require.Equal(t, http.StatusBadRequest, code, body)
			require.Equal(t, desktop.CodeInvalidArgument, errCode(t, body))
			require.Contains(t, body, tc.want)
		})
	}
	code, _ = h.do(t, "sam", http.MethodGet, "/api/v1/campaigns/bad", "", nil)
	require.Equal(t, http.StatusNotFound, code, "nothing half-created")

	updated := strings.Replace(spring, `"Spring offer"`, `"Spring offer v2"`, 1)
	code, body = h.do(t, "sam", http.MethodPut, "/api/v1/campaigns/spring", "application/json", strings.NewReader(updated))
	require.Equal(t, http.StatusOK, code, body)
	require.NoError(t, h.st.SetCampaignState(testCtx(t), "spring", "draft", "running"))
	code, body = h.do(t, "sam", http.MethodPut, "/api/v1/campaigns/spring", "application/json", strings.NewReader(updated))
	require.Equal(t, http.StatusConflict, code, "a running campaign is paused before it is changed: %s", body)
	code, _ = h.do(t, "sam", http.MethodDelete, "/api/v1/campaigns/spring", "", nil)
	require.Equal(t, http.StatusConflict, code)

	code, body = h.do(t, "sam", http.MethodGet, "/api/v1/campaigns", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "Spring offer v2")
	require.Contains(t, body, `"state":"running"`)

	require.NoError(t, h.st.SetCampaignState(testCtx(t), "spring", "running", "stopped"))
	code, _ = h.do(t, "sam", http.MethodDelete, "/api/v1/campaigns/spring", "", nil)
	require.Equal(t, http.StatusNoContent, code)
	h.mu.Lock()
	defer h.mu.Unlock()
	actions := []string{}
	for _, e := range h.audit {
		actions = append(actions, e.Action+" "+e.Target+" by "+e.Actor)
	}
	require.Equal(t, []string{"campaign.create spring by sam", "campaign.update spring by sam", "campaign.delete spring by sam"}, actions)
}

type importAnswer struct {
	Error    desktop.Error
	Import   map[string]any
	Status   string
	Imported int
	Rejected int
	Problems []struct {
		Line   int
		Kind   string
		Reason string
	}
}

func TestListUpload(t *testing.T) {
	h := newHarness(t)
	code, body := h.do(t, "sam", http.MethodPost, "/api/v1/campaigns", "application/json", strings.NewReader(spring))
	require.Equal(t, http.StatusCreated, code, body)

	good := "First Name,Mobile,Plan\nAda,07400 123001,gold\nAlan,07400 123002,silver\n"
	bad := good + "Bob,12345,bronze\n"

	// All-or-nothing (default): one invalid number and nothing is kept.
	code, body = h.do(t, "sam", http.MethodPost, "/api/v1/campaigns/spring/lists?file_name=leads.csv", "text/csv", strings.NewReader(bad))
	require.Equal(t, http.StatusBadRequest, code, body)
	var a importAnswer
	require.NoError(t, json.Unmarshal([]byte(body), &a))
	require.Equal(t, desktop.CodeInvalidArgument, a.Error.Code)
	require.Contains(t, a.Error.Message, "1 of 3 rows rejected (first: line 4")
	require.Equal(t, "failed", a.Import["status"])
	require.Len(t, a.Import["problems"], 1)

	// Bad inputs: wrong encoding, missing phone column, 10 MB line, broken quoting.
	for _, tc := range []struct{ name, csv, want string }{
		{"latin1", "Name,Phone\nJos\xe9,07400123009\n", "not UTF-8"},
		{"no phone column", "Name,Email\nAda,a@example.com\n", "no phone column"},
		{"10 MB line", "Phone,Notes\n07400123009," + strings.Repeat("z", 10<<20) + "\n", "line 2 is longer than"},
		{"quoting", "Phone,Notes\n07400123009,\"open\n", "line 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := h.do(t, "sam", http.MethodPost, "/api/v1/campaigns/spring/lists", "text/csv", strings.NewReader(tc.csv))
			require.Equal(t, http.StatusBadRequest, code)
			require.Contains(t, body, tc.want)
		})
	}
	code, body = h.do(t, "sam", http.MethodPost, "/api/v1/campaigns/spring/lists", "text/csv; charset=iso-8859-1", strings.NewReader(good))
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "must be UTF-8")
	n := 0
	require.NoError(t, h.st.EachContact(testCtx(t), "spring", func(store.Contact) error { n++; return nil }))
	require.Zero(t, n, "nothing half-imported")

	// Partial, as multipart with a mapping: the good rows are kept and it says partial.
	var mb bytes.Buffer
	mw := multipart.NewWriter(&mb)
	fw, err := mw.CreateFormFile("file", "leads.csv")
	require.NoError(t, err)
	_, err = fw.Write([]byte(bad))
	require.NoError(t, err)
	require.NoError(t, mw.Close())
	code, body = h.do(t, "sam", http.MethodPost, "/api/v1/campaigns/spring/lists?mode=partial&list=april&map=phone=Mobile,first_name=First%20Name,field=Plan",
		mw.FormDataContentType(), &mb)
	require.Equal(t, http.StatusCreated, code, body)
	var ok importAnswer
	require.NoError(t, json.Unmarshal([]byte(body), &ok))
	require.Equal(t, "partial", ok.Status)
	require.Equal(t, 2, ok.Imported)
	require.Equal(t, 1, ok.Rejected)
	require.Equal(t, 4, ok.Problems[0].Line)
	require.Contains(t, ok.Problems[0].Reason, `"12345" is not a valid phone number`)

	var got []store.Contact
	require.NoError(t, h.st.EachContact(testCtx(t), "spring", func(c store.Contact) error { got = append(got, c); return nil }))
	require.Len(t, got, 2)
	require.Equal(t, "Ada", got[0].FirstName)
	require.Equal(t, "+447400123001", got[0].Numbers[0].Number)
	require.Equal(t, "Europe/London", got[0].Zone)
	require.Equal(t, map[string]string{"Plan": "gold"}, got[0].Fields)

	// Uploading the same file again: every row is a duplicate of the list.
	code, body = h.do(t, "sam", http.MethodPost, "/api/v1/campaigns/spring/lists?list=april", "text/csv", strings.NewReader(good))
	require.Equal(t, http.StatusCreated, code, body)
	require.Contains(t, body, `"duplicates":2`)
	require.Contains(t, body, "already in the list")

	code, body = h.do(t, "sam", http.MethodGet, "/api/v1/campaigns/spring/lists", "", nil)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, `"name":"april"`)
	require.Contains(t, body, `"contacts":2`)
	code, _ = h.do(t, "sam", http.MethodPost, "/api/v1/campaigns/nope/lists", "text/csv", strings.NewReader(good))
	require.Equal(t, http.StatusNotFound, code)
	code, _ = h.do(t, "anna", http.MethodPost, "/api/v1/campaigns/spring/lists", "text/csv", strings.NewReader(good))
	require.Equal(t, http.StatusForbidden, code)
}

func TestDNCAPIAndCheck(t *testing.T) {
	h := newHarness(t)
	code, body := h.do(t, "sam", http.MethodPost, "/api/v1/campaigns", "application/json", strings.NewReader(spring))
	require.Equal(t, http.StatusCreated, code, body)

	code, body = h.do(t, "sam", http.MethodPost, "/api/v1/dnc", "application/json",
		strings.NewReader(`{"number":"07400 123001","reason":"asked on the phone"}`))
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"number":"+447400123001"`)

	// However it is typed, the number is blocked, for every campaign and manual dials.
	for _, typed := range []string{"07400123001", "+44 7400 123001", "0044 7400 123 001", "(07400) 123-001"} {
		_, err := h.dnc.CheckDial("spring", typed, "GB")
		require.ErrorIs(t, err, ErrDNC, typed)
		_, err = h.dnc.CheckDial("", typed, "GB")
		require.ErrorIs(t, err, ErrDNC, typed)
	}
	_, err := h.dnc.CheckDial("spring", "not a number", "GB")
	require.ErrorIs(t, err, ErrBadNumber, "a number that cannot be checked is not dialled")
	e164, err := h.dnc.CheckDial("spring", "07400 123002", "GB")
	require.NoError(t, err)
	require.Equal(t, "+447400123002", e164)

	// A campaign's own list (CSV upload) blocks only that campaign.
	code, body = h.do(t, "sam", http.MethodPost, "/api/v1/dnc?campaign_id=spring&reason=tps", "text/csv",
		strings.NewReader("Phone\n07400 123002\n07400 123003\n"))
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"added":2`)
	require.True(t, h.dnc.Blocked("spring", "+447400123002"))
	require.False(t, h.dnc.Blocked("autumn", "+447400123002"))
	isDNC := h.dnc.For("spring")
	require.True(t, isDNC("+447400123003"))

	// One bad number in a batch: none is added.
	code, body = h.do(t, "sam", http.MethodPost, "/api/v1/dnc", "application/json", strings.NewReader(`{"numbers":["07400123004","nope"]}`))
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, `"line":2`)
	require.False(t, h.dnc.Blocked("", "+447400123004"))

	// The do_not_call disposition hook: saved, in force, on both lists.
	require.NoError(t, h.dnc.OnDisposition(testCtx(t), DispositionEvent{Campaign: "spring", Number: "+447400123005", Agent: "anna", Code: "do_not_call", DNC: true}))
	require.NoError(t, h.dnc.OnDisposition(testCtx(t), DispositionEvent{Campaign: "spring", Number: "+447400123006", Agent: "anna", Code: "sale"}))
	require.True(t, h.dnc.Blocked("autumn", "+447400123005"))
	require.False(t, h.dnc.Blocked("spring", "+447400123006"))
	code, body = h.do(t, "sam", http.MethodGet, "/api/v1/dnc?number=07400123005&campaign_id=spring", "", nil)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"blocked":true`)
	require.Contains(t, body, `"source":"disposition"`)
	require.Contains(t, body, `"added_by":"anna"`)

	// A reloaded checker (restart) sees the same lists.
	again, err := LoadDNC(testCtx(t), h.st)
	require.NoError(t, err)
	require.True(t, again.Blocked("", "+447400123001"))
	require.True(t, again.Blocked("spring", "+447400123002"))

	// Paging, then removal (admin only).
	code, body = h.do(t, "sam", http.MethodGet, "/api/v1/dnc?limit=1", "", nil)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"next_after":"+447400123001"`)
	code, _ = h.do(t, "sam", http.MethodDelete, "/api/v1/dnc?number=07400123001", "", nil)
	require.Equal(t, http.StatusForbidden, code)
	code, body = h.do(t, "ada", http.MethodDelete, "/api/v1/dnc?number=07400123001&reason=added+by+mistake", "", nil)
	require.Equal(t, http.StatusNoContent, code, body)
	require.False(t, h.dnc.Blocked("spring", "+447400123001"))
	code, _ = h.do(t, "ada", http.MethodDelete, "/api/v1/dnc?number=07400123001", "", nil)
	require.Equal(t, http.StatusNotFound, code)
}

func TestDefinitionDialerConfig(t *testing.T) {
	var d Definition
	require.NoError(t, json.Unmarshal([]byte(spring), &d))
	require.NoError(t, d.Validate())
	called := false
	cfg, err := d.DialerConfig(func(string) bool { called = true; return true })
	require.NoError(t, err)
	require.Equal(t, "predictive", cfg.Mode.String())
	require.Equal(t, 25*time.Second, cfg.RingTimeout)
	require.Equal(t, 10*time.Minute, cfg.Retry.Busy.After)
	require.Equal(t, 2*time.Hour, cfg.Retry.NoAnswer.After, "defaults for the rest")
	require.Equal(t, 9*time.Hour, cfg.Windows[0].From)
	require.True(t, cfg.IsDNC("+1"))
	require.True(t, called)
	require.Equal(t, "PJSIP/+447400123001@trunk", d.DialString("+447400123001"))
	require.Len(t, d.AgentIDs(), 1)
}

func TestLoadContactsIntoTheDialer(t *testing.T) {
	h := newHarness(t)
	code, body := h.do(t, "sam", http.MethodPost, "/api/v1/campaigns", "application/json", strings.NewReader(spring))
	require.Equal(t, http.StatusCreated, code, body)
	csv := "Name,Mobile,Home Phone,TZ\nAda,07400 123001,,\nAlan,+1 212 555 0100,07400 123002,\nGrace,07400 123003,,America/Chicago\n"
	code, body = h.do(t, "sam", http.MethodPost, "/api/v1/campaigns/spring/lists", "text/csv", strings.NewReader(csv))
	require.Equal(t, http.StatusCreated, code, body)

	var d Definition
	require.NoError(t, json.Unmarshal([]byte(spring), &d))
	cfg, err := d.DialerConfig(h.dnc.For(d.ID))
	require.NoError(t, err)
	dl, err := dialer.New(cfg)
	require.NoError(t, err)
	batches := 0
	require.NoError(t, LoadContacts(testCtx(t), h.st, "spring", 2, func(cs []dialer.Contact) error {
		batches++
		return dl.AddContacts(cs)
	}))
	require.Equal(t, 2, batches)
	var all []dialer.Contact
	require.NoError(t, LoadContacts(testCtx(t), h.st, "spring", 10, func(cs []dialer.Contact) error { all = append(all, cs...); return nil }))
	require.Len(t, all, 3)
	require.Equal(t, []string{"+447400123001"}, all[0].Numbers)
	require.Equal(t, "Europe/London", all[0].Zone)
	require.Nil(t, all[0].NumberZones)
	require.Equal(t, []string{"+12125550100", "+447400123002"}, all[1].Numbers)
	require.Equal(t, "America/New_York", all[1].Zone)
	require.Equal(t, []string{"America/New_York", "Europe/London"}, all[1].NumberZones, "each number keeps its own zone")
	require.Equal(t, "America/Chicago", all[2].Zone)
	st, _, err := dl.ContactState(all[1].ID)
	require.NoError(t, err)
	require.NotEmpty(t, st)
}

// slowDNCStore lets an Add happen while a Reload is reading.
type slowDNCStore struct {
	*store.Store
	reading chan struct{}
	goOn    chan struct{}
}

func (s *slowDNCStore) EachDNC(ctx context.Context, fn func(store.DNCEntry) error) error {
	err := s.Store.EachDNC(ctx, fn)
	if s.reading != nil {
		close(s.reading)
		<-s.goOn
		s.reading = nil
	}
	return err
}

func TestDNCReloadKeepsConcurrentAdds(t *testing.T) {
	h := newHarness(t)
	ss := &slowDNCStore{Store: h.st}
	d, err := LoadDNC(testCtx(t), ss)
	require.NoError(t, err)
	// Another node adds a number straight to the shared store.
	_, err = h.st.AddDNC(testCtx(t), store.DNCEntry{Number: "+447400123010", Source: store.DNCSourceAPI, AddedBy: "node2"})
	require.NoError(t, err)
	require.False(t, d.Blocked("", "+447400123010"))

	ss.reading, ss.goOn = make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- d.Reload(testCtx(t)) }()
	<-ss.reading // the reload has read the store; add here before it swaps
	_, err = d.Add(testCtx(t), store.DNCEntry{Number: "+447400123011", Source: store.DNCSourceAPI, AddedBy: "sam"})
	require.NoError(t, err)
	close(ss.goOn)
	require.NoError(t, <-done)
	require.True(t, d.Blocked("", "+447400123010"), "the other node's entry is in force after the reload")
	require.True(t, d.Blocked("", "+447400123011"), "an add during the reload is not lost")

	ctx, cancel := context.WithCancel(testCtx(t))
	stopped := make(chan struct{})
	go func() { d.Run(ctx, 10*time.Millisecond, func(err error) { t.Error(err) }); close(stopped) }()
	_, err = h.st.AddDNC(testCtx(t), store.DNCEntry{Number: "+447400123012", Source: store.DNCSourceAPI, AddedBy: "node2"})
	require.NoError(t, err)
	deadline := time.Now().Add(20 * time.Second)
	for !d.Blocked("", "+447400123012") {
		require.True(t, time.Now().Before(deadline), "Run never reloaded")
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-stopped
}
