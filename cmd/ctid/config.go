package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/ctid/ctid/cti"
	"github.com/ctid/ctid/cti/demo"
	"github.com/ctid/ctid/cti/desktop"
	"github.com/ctid/ctid/cti/store"
	"github.com/ctid/ctid/queue"
	"github.com/ctid/ctid/softphone"
	"github.com/ctid/ctid/telephony"
)

// fileConfig is the shape of ctid.yaml. Every key has a default (so CTID_* environment
// variables can override any of them) and unknown keys are rejected.
type fileConfig struct {
	Server    serverSection    `mapstructure:"server"`
	Log       logSection       `mapstructure:"log"`
	Asterisk  asteriskSection  `mapstructure:"asterisk"`
	Emulator  emulatorSection  `mapstructure:"emulator"`
	Store     store.Config     `mapstructure:"store"`
	Calls     callsSection     `mapstructure:"calls"`
	Queues    []queueSection   `mapstructure:"queues"`
	Agents    []agentSection   `mapstructure:"agents"`
	Desktop   desktop.Config   `mapstructure:"desktop"`
	Softphone softphoneSection `mapstructure:"softphone"`
	Wallboard wallboardSection `mapstructure:"wallboard"`
	Demo      demo.Config      `mapstructure:"demo"`
	Reports   reportsSection   `mapstructure:"reports"`
}

// softphoneSection configures the browser softphone gateway.
type softphoneSection struct {
	Enabled          bool     `mapstructure:"enabled"`
	MediaPortMin     uint16   `mapstructure:"media_port_min"`
	MediaPortMax     uint16   `mapstructure:"media_port_max"`
	MediaBindIP      string   `mapstructure:"media_bind_ip"`
	MediaAdvertiseIP string   `mapstructure:"media_advertise_ip"`
	AllowedSources   []string `mapstructure:"allowed_sources"`
	ICENetworkTypes  []string `mapstructure:"ice_network_types"`
	ICEInterfaces    []string `mapstructure:"ice_interfaces"`
	ICELoopback      bool     `mapstructure:"ice_include_loopback"`
	NAT1To1IPs       []string `mapstructure:"nat_1to1_ips"`
	STUNURLs         []string `mapstructure:"stun_urls"`
	// TURN (or authenticated STUN) servers for agents outside the LAN; the
	// consoles get them too (rtc.config).
	ICEServers []iceServerSection `mapstructure:"ice_servers"`
	// ICEUDPMux ("host:port"): every agent's ICE on that one UDP port (batched
	// reads and writes) instead of a port per agent; empty = off.
	ICEUDPMux string `mapstructure:"ice_udp_mux"`
	// MediaSharedAddr ("host:port"): every ExternalMedia leg on that one UDP port
	// (Asterisk's channels told apart by their source address) instead of a port per
	// call from media_port_min..max; empty = off.
	MediaSharedAddr string `mapstructure:"media_shared_addr"`
}

type iceServerSection struct {
	URLs       []string `mapstructure:"urls"`
	Username   string   `mapstructure:"username"`
	Credential string   `mapstructure:"credential"`
}

type callsSection struct {
	MOHClass       string        `mapstructure:"moh_class"`
	Fallback       string        `mapstructure:"fallback"`
	FallbackReason string        `mapstructure:"fallback_reason"`
	OfferTimeout   time.Duration `mapstructure:"offer_timeout"`
	// Node names this ctid node in the store's callback rows (default: host name);
	// keep it stable across restarts so a restarted node takes back its callbacks.
	Node string `mapstructure:"node"`
	// Keep-your-place callbacks (press 1): disabled while callback_endpoint is empty.
	CallbackEndpoint string `mapstructure:"callback_endpoint"`
	CallbackPrompt   string `mapstructure:"callback_prompt"`
	CallbackCallerID string `mapstructure:"callback_caller_id"`
	// ExternalEndpoint reaches outside numbers for transfers, e.g. PJSIP/{number}@trunk.
	ExternalEndpoint string `mapstructure:"external_endpoint"`
	// ExternalAnswerTimeout bounds the ringing of an outside number (transfers, consultations).
	ExternalAnswerTimeout time.Duration `mapstructure:"external_answer_timeout"`
	// TransferKeepsEnqueueTime: a caller blind-transferred to a queue keeps their original enqueue time.
	TransferKeepsEnqueueTime bool `mapstructure:"transfer_keeps_enqueue_time"`
	// DefaultRegion (ISO 3166, e.g. PL) for showing national caller numbers in E.164.
	DefaultRegion string `mapstructure:"default_region"`
	// DesktopGrace: an agent whose desktop dropped keeps calls this long (0: forever).
	DesktopGrace time.Duration `mapstructure:"desktop_grace"`
}

// queueSection is one entry of `queues:`.
type queueSection struct {
	ID           string        `mapstructure:"id"`
	Strategy     string        `mapstructure:"strategy"`
	Members      []string      `mapstructure:"members"` // agent, or agent:tier
	Skills       string        `mapstructure:"skills"`  // required skill expression
	WrapUp       time.Duration `mapstructure:"wrapup"`
	OfferTimeout time.Duration `mapstructure:"offer_timeout"`
	MaxWait      time.Duration `mapstructure:"max_wait"`
	MaxLength    int           `mapstructure:"max_length"`
	ServiceLevel time.Duration `mapstructure:"service_level"`
	ShortAbandon time.Duration `mapstructure:"short_abandon"` // abandons within this are short (default 5s)
	SLFormula    string        `mapstructure:"sl_formula"`    // abandons-met (default), answered-only, abandons-against, short-abandons-neutral
	// OfferWithoutAudio: offer calls to a browser-softphone agent whose audio path is down (default false).
	OfferWithoutAudio bool `mapstructure:"offer_without_audio"`
	// Answer: on_arrival (default: answered, music on hold) or on_connect (left
	// ringing, answered when an agent accepts; cmd/ctid/answer.go).
	Answer string `mapstructure:"answer"`

	// Call recording.
	Recording       string `mapstructure:"recording"`        // never (default), always or on_demand
	RecordingFormat string `mapstructure:"recording_format"` // wav (default), wav16, gsm, ulaw, alaw, sln
	// Post-call survey (cmd/ctid/survey.go): nil = none.
	Survey *surveySection `mapstructure:"survey"`
	// Screen-pop extras.
	CRMURL     string        `mapstructure:"crm_url"` // e.g. https://crm.example/lookup?phone={caller}
	CRMMethod  string        `mapstructure:"crm_method"`
	CRMTimeout time.Duration `mapstructure:"crm_timeout"`
	CRMLink    string        `mapstructure:"crm_link"`
	Script     string        `mapstructure:"script"`
	KBLink     string        `mapstructure:"kb_link"`
	// Wrap-up outcomes offered for the queue's calls (empty: the console's own list).
	Dispositions []dispositionSection `mapstructure:"dispositions"`
}

// dispositionSection is one entry of `queues[].dispositions`.
type dispositionSection struct {
	Code     string `mapstructure:"code"`
	Label    string `mapstructure:"label"`
	Callback bool   `mapstructure:"callback"` // asks for a callback date-time
	Final    bool   `mapstructure:"final"`
}

// agentSection is one entry of `agents:`.
type agentSection struct {
	ID         string `mapstructure:"id"`
	Device     string `mapstructure:"device"`      // webrtc (default) or PJSIP/1001
	AutoAnswer bool   `mapstructure:"auto_answer"` // PJSIP device: ask the phone to answer at once
	Skills     string `mapstructure:"skills"`      // e.g. "lang:pl=5, product:internet=3"
}

type serverSection struct {
	Listen            string        `mapstructure:"listen"`
	ShutdownTimeout   time.Duration `mapstructure:"shutdown_timeout"`
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`
	TLS               tlsSection    `mapstructure:"tls"`
}

// tlsSection turns the listener into HTTPS when both files are set.
type tlsSection struct {
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
}

type logSection struct {
	Level  string `mapstructure:"level"`
	Format string `mapstructure:"format"`
}

type asteriskSection struct {
	Mode            string        `mapstructure:"mode"`
	URL             string        `mapstructure:"url"`
	WebSocketURL    string        `mapstructure:"websocket_url"`
	Username        string        `mapstructure:"username"`
	Password        string        `mapstructure:"password"`
	App             string        `mapstructure:"app"`
	RequestTimeout  time.Duration `mapstructure:"request_timeout"`
	DialTimeout     time.Duration `mapstructure:"dial_timeout"`
	ReconnectMin    time.Duration `mapstructure:"reconnect_min"`
	ReconnectMax    time.Duration `mapstructure:"reconnect_max"`
	MaxQueuedEvents int           `mapstructure:"max_queued_events"`
}

type emulatorSection struct {
	Listen string `mapstructure:"listen"`
	// Username and Password protect the embedded emulator's ARI and control API
	// (/_emu/...). An empty password means a random one that only ctid knows.
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
}

const (
	modeEmulator = "emulator"
	modeExternal = "external"
)

func defaults() fileConfig {
	s := cti.DefaultServerConfig()
	a := telephony.DefaultConfig()
	return fileConfig{
		Server: serverSection{Listen: s.Listen, ShutdownTimeout: s.ShutdownTimeout, ReadHeaderTimeout: s.ReadHeaderTime},
		Log:    logSection{Level: "info", Format: "json"},
		Asterisk: asteriskSection{
			Mode: modeExternal, URL: a.URL, Username: "", Password: "", App: a.Application,
			RequestTimeout: a.RequestTimeout, DialTimeout: a.DialTimeout,
			ReconnectMin: a.ReconnectMin, ReconnectMax: a.ReconnectMax, MaxQueuedEvents: a.MaxQueuedEvents,
		},
		Emulator: emulatorSection{Listen: "127.0.0.1:8088", Username: "ctid"},
		Reports:  defaultReports(),
		Store:    store.DefaultConfig(),
		Desktop:  desktop.DefaultConfig(),
		Softphone: func() softphoneSection {
			d := softphone.DefaultConfig()
			return softphoneSection{Enabled: true, MediaPortMin: d.MediaPortMin, MediaPortMax: d.MediaPortMax,
				MediaBindIP: d.MediaBindIP, ICENetworkTypes: d.ICE.NetworkTypes, ICELoopback: d.ICE.IncludeLoopback}
		}(),
		Calls: callsSection{
			MOHClass: cti.DefaultConfig().MOHClass, Fallback: cti.DefaultConfig().Fallback,
			FallbackReason: cti.DefaultConfig().FallbackReason, OfferTimeout: 20 * time.Second,
			CallbackPrompt: cti.DefaultConfig().CallbackPrompt,

			ExternalAnswerTimeout:    cti.DefaultConfig().ExternalAnswerTimeout,
			TransferKeepsEnqueueTime: cti.DefaultConfig().TransferKeepsEnqueueTime,
			DesktopGrace:             cti.DefaultConfig().DesktopGrace,
		},
		Wallboard: defaultWallboardSection(),
		Demo:      demo.DefaultConfig(),
	}
}

// errConfig marks configuration errors (exit code 2).
var errConfig = errors.New("configuration error")

// setDefaults registers every key of v (a struct) under prefix with its default.
func setDefaults(vp *viper.Viper, prefix string, v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		key := t.Field(i).Tag.Get("mapstructure")
		full := key
		if prefix != "" {
			full = prefix + "." + key
		}
		if t.Field(i).Type.Kind() == reflect.Struct {
			setDefaults(vp, full, v.Field(i))
			continue
		}
		vp.SetDefault(full, v.Field(i).Interface())
	}
}

// loadConfig reads path (optional), then CTID_* environment variables (CTID_ASTERISK_URL
// for asterisk.url), then the flags already bound to vp.
func loadConfig(vp *viper.Viper, path string) (fileConfig, error) {
	setDefaults(vp, "", reflect.ValueOf(defaults()))
	vp.SetEnvPrefix("CTID")
	vp.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	vp.AutomaticEnv()
	if path != "" {
		vp.SetConfigFile(path)
		if err := vp.ReadInConfig(); err != nil {
			var nf viper.ConfigFileNotFoundError
			if errors.As(err, &nf) || errors.Is(err, os.ErrNotExist) {
				return fileConfig{}, fmt.Errorf("%w: config file %s: not found", errConfig, path)
			}
			return fileConfig{}, fmt.Errorf("%w: config file %s: %w", errConfig, path, err)
		}
	}
	var fc fileConfig
	hook := mapstructure.ComposeDecodeHookFunc(mapstructure.StringToTimeDurationHookFunc(), mapstructure.StringToSliceHookFunc(","))
	if err := vp.UnmarshalExact(&fc, viper.DecodeHook(hook)); err != nil {
		return fileConfig{}, fmt.Errorf("%w: %s: %w", errConfig, sourceName(path), err)
	}
	if err := fc.validate(); err != nil {
		return fileConfig{}, fmt.Errorf("%w: %w", errConfig, err)
	}
	return fc, nil
}

func sourceName(path string) string {
	if path == "" {
		return "defaults and environment"
	}
	return path
}

func (fc fileConfig) validate() error {
	switch fc.Log.Level {
	case "trace", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q: must be one of trace, debug, info, warn, error", fc.Log.Level)
	}
	switch fc.Log.Format {
	case "json", "console":
	default:
		return fmt.Errorf("log.format: %q: must be json or console", fc.Log.Format)
	}
	switch fc.Asterisk.Mode {
	case modeEmulator:
		if _, _, err := net.SplitHostPort(fc.Emulator.Listen); err != nil {
			return fmt.Errorf("emulator.listen: %q: must be host:port, e.g. 127.0.0.1:8088", fc.Emulator.Listen)
		}
		if fc.Emulator.Username == "" {
			return fmt.Errorf("emulator.username: %q: must not be empty", fc.Emulator.Username)
		}
	case modeExternal:
	default:
		return fmt.Errorf("asterisk.mode: %q: must be emulator or external", fc.Asterisk.Mode)
	}
	if err := fc.serverConfig().Validate(); err != nil {
		return err
	}
	if err := fc.Store.Validate(); err != nil {
		return err
	}
	if err := fc.Desktop.Validate(); err != nil {
		return err
	}
	if fc.Softphone.Enabled {
		if err := fc.softphoneConfig().Validate(); err != nil {
			return err
		}
	}
	if err := fc.callsConfig().Validate(); err != nil {
		return err
	}
	if _, err := fc.queueConfig(); err != nil {
		return err
	}
	if _, err := fc.wallboardConfig(); err != nil {
		return err
	}
	if _, err := fc.answers(); err != nil {
		return err
	}
	if err := fc.validateDemo(); err != nil {
		return err
	}
	if err := fc.reportsConfig().Validate(); err != nil {
		return err
	}
	if fc.Asterisk.Mode == modeExternal {
		// In emulator mode the URL and credentials are filled in at start-up.
		return fc.ariConfig().Validate()
	}
	a := fc.ariConfig()
	a.URL, a.Username, a.Password = "http://"+fc.Emulator.Listen+"/ari", "emulator", "emulator"
	return a.Validate()
}

func (fc fileConfig) serverConfig() cti.ServerConfig {
	return cti.ServerConfig{Listen: fc.Server.Listen, ShutdownTimeout: fc.Server.ShutdownTimeout, ReadHeaderTime: fc.Server.ReadHeaderTimeout,
		TLSCertFile: fc.Server.TLS.CertFile, TLSKeyFile: fc.Server.TLS.KeyFile}
}

func (fc fileConfig) ariConfig() telephony.Config {
	a := fc.Asterisk
	return telephony.Config{
		URL: a.URL, WebSocketURL: a.WebSocketURL, Username: a.Username, Password: a.Password,
		Application: a.App, RequestTimeout: a.RequestTimeout, DialTimeout: a.DialTimeout,
		ReconnectMin: a.ReconnectMin, ReconnectMax: a.ReconnectMax, MaxQueuedEvents: a.MaxQueuedEvents,
	}
}

// redactURL strips userinfo for logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<invalid>"
	}
	u.User = nil
	return u.String()
}

func (fc fileConfig) callsConfig() cti.Config {
	c := cti.DefaultConfig()
	c.MOHClass, c.Fallback, c.FallbackReason = fc.Calls.MOHClass, fc.Calls.Fallback, fc.Calls.FallbackReason
	c.CallbackEndpoint, c.CallbackPrompt, c.CallbackCallerID = fc.Calls.CallbackEndpoint, fc.Calls.CallbackPrompt, fc.Calls.CallbackCallerID
	c.ExternalEndpoint, c.DefaultRegion = fc.Calls.ExternalEndpoint, fc.Calls.DefaultRegion
	c.Node = fc.Calls.Node
	c.ExternalAnswerTimeout, c.TransferKeepsEnqueueTime = fc.Calls.ExternalAnswerTimeout, fc.Calls.TransferKeepsEnqueueTime
	if wb, err := fc.wallboardConfig(); err == nil { // an invalid one fails in validate
		c.Wallboard = wb
	}
	c.DesktopGrace = fc.Calls.DesktopGrace
	c.Recordings = fc.recordings()
	c.Surveys = fc.surveys()
	if an, err := fc.answers(); err == nil { // an invalid one fails in validate
		c.Answers = an
	}
	for _, q := range fc.Queues {
		if q.CRMURL != "" || q.CRMLink != "" || q.Script != "" || q.KBLink != "" || len(q.Dispositions) > 0 {
			d := cti.QueueDesk{Queue: q.ID, CRMURL: q.CRMURL, CRMMethod: q.CRMMethod,
				CRMTimeout: q.CRMTimeout, CRMLink: q.CRMLink, Script: q.Script, KBLink: q.KBLink}
			for _, x := range q.Dispositions {
				d.Dispositions = append(d.Dispositions, cti.QueueDisposition{Code: x.Code, Label: x.Label, Callback: x.Callback, Final: x.Final})
			}
			c.Desks = append(c.Desks, d)
		}
	}
	for _, a := range fc.Agents {
		if a.Device != "" && a.Device != cti.DeviceWebRTC {
			c.Devices = append(c.Devices, cti.AgentDevice{Agent: a.ID, Device: a.Device, AutoAnswer: a.AutoAnswer})
		}
	}
	return c
}

// queueConfig builds the ACD configuration from `queues:` and `agents:`.
func (fc fileConfig) queueConfig() (queue.Config, error) {
	qc := queue.Config{OfferTimeout: fc.Calls.OfferTimeout}
	agents := map[string]bool{}
	for i, a := range fc.Agents {
		if a.ID == "" || agents[a.ID] {
			return qc, fmt.Errorf("agents[%d].id: %q: must be a unique, non-empty agent name", i, a.ID)
		}
		agents[a.ID] = true
		skills, err := queue.ParseSkills(a.Skills)
		if err != nil {
			return qc, fmt.Errorf("agents[%d].skills: %q: %w", i, a.Skills, err)
		}
		qc.Agents = append(qc.Agents, queue.AgentConfig{ID: queue.AgentID(a.ID), Skills: skills})
	}
	for i, q := range fc.Queues {
		st, err := queue.ParseStrategy(q.Strategy)
		if err != nil {
			return qc, fmt.Errorf("queues[%d].strategy: %q: must be one of longest-idle, round-robin, fewest-calls, least-talk-time, linear, random, ring-all, skills", i, q.Strategy)
		}
		if q.Skills != "" {
			if _, err := queue.ParseSkillExpr(q.Skills); err != nil {
				return qc, fmt.Errorf("queues[%d].skills: %q: %w", i, q.Skills, err)
			}
		}
		c := queue.QueueConfig{ID: queue.QueueID(q.ID), Strategy: st, Skills: q.Skills, WrapUp: q.WrapUp,
			OfferTimeout: q.OfferTimeout, MaxWait: q.MaxWait, MaxLength: q.MaxLength, ServiceLevel: q.ServiceLevel}
		c.ShortAbandon = q.ShortAbandon
		c.OfferWithoutAudio = q.OfferWithoutAudio
		for j, m := range q.Members {
			name, tierStr, hasTier := strings.Cut(m, ":")
			tier := 1
			if hasTier {
				if _, err := fmt.Sscanf(tierStr, "%d", &tier); err != nil || tier < 1 {
					return qc, fmt.Errorf("queues[%d].members[%d]: %q: tier must be a positive number (agent:tier)", i, j, m)
				}
			}
			if !agents[name] {
				return qc, fmt.Errorf("queues[%d].members[%d]: %q: no such agent in agents:", i, j, name)
			}
			c.Members = append(c.Members, queue.Member{Agent: queue.AgentID(name), Tier: tier})
		}
		qc.Queues = append(qc.Queues, c)
	}
	if _, err := queue.NewEngine(qc); err != nil {
		return qc, fmt.Errorf("queues: %w", err)
	}
	return qc, nil
}

func (fc fileConfig) softphoneConfig() softphone.Config {
	c := softphone.DefaultConfig()
	sp := fc.Softphone
	c.MediaPortMin, c.MediaPortMax, c.MediaBindIP, c.MediaAdvertiseIP = sp.MediaPortMin, sp.MediaPortMax, sp.MediaBindIP, sp.MediaAdvertiseIP
	c.MediaAllowedSources = sp.AllowedSources
	c.ICE.NetworkTypes, c.ICE.Interfaces, c.ICE.IncludeLoopback, c.ICE.NAT1To1IPs = sp.ICENetworkTypes, sp.ICEInterfaces, sp.ICELoopback, sp.NAT1To1IPs
	c.ICE.UDPMux = sp.ICEUDPMux
	c.MediaSharedAddr = sp.MediaSharedAddr
	if len(sp.STUNURLs) > 0 {
		c.ICE.Servers = []softphone.ICEServer{{URLs: sp.STUNURLs}}
	}
	for _, x := range sp.ICEServers {
		c.ICE.Servers = append(c.ICE.Servers, softphone.ICEServer{URLs: x.URLs, Username: x.Username, Credential: x.Credential})
	}
	return c
}
