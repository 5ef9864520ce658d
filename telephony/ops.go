package telephony

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/CyCoreSystems/ari/v5"
)

// The operations below are the small ARI surface ctid uses. Every call is bounded by
// Config.RequestTimeout and by ctx. Ids are escaped; parameters go in the query string
// as Asterisk documents them, channel variables in the JSON body.

func pathEsc(s string) string { return url.PathEscape(s) }

// Info returns GET /asterisk/info.
func (c *Client) Info(ctx context.Context) (*ari.AsteriskInfo, error) {
	var out ari.AsteriskInfo
	if err := c.rest.do(ctx, "GET", "/asterisk/info", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Modules returns GET /asterisk/modules.
func (c *Client) Modules(ctx context.Context) ([]ari.ModuleData, error) {
	var out []ari.ModuleData
	if err := c.rest.do(ctx, "GET", "/asterisk/modules", nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// GetApplication returns GET /applications/{name}.
func (c *Client) GetApplication(ctx context.Context, name string) (*ari.ApplicationData, error) {
	var out ari.ApplicationData
	if err := c.rest.do(ctx, "GET", "/applications/"+pathEsc(name), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

type eventType struct {
	Type string `json:"type"`
}

// SetEventFilter replaces the app's event allow-list (PUT .../eventFilter).
func (c *Client) SetEventFilter(ctx context.Context, allowed []string) error {
	body := struct {
		Allowed    []eventType `json:"allowed"`
		Disallowed []eventType `json:"disallowed"`
	}{Allowed: make([]eventType, 0, len(allowed)), Disallowed: []eventType{}}
	for _, t := range allowed {
		body.Allowed = append(body.Allowed, eventType{Type: t})
	}
	return c.rest.do(ctx, "PUT", "/applications/"+pathEsc(c.cfg.Application)+"/eventFilter", nil, body, nil)
}

// Channels lists every channel Asterisk has (GET /channels).
func (c *Client) Channels(ctx context.Context) ([]ari.ChannelData, error) {
	var out []ari.ChannelData
	if err := c.rest.do(ctx, "GET", "/channels", nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Channel returns one channel.
func (c *Client) Channel(ctx context.Context, id string) (*ari.ChannelData, error) {
	var out ari.ChannelData
	if err := c.rest.do(ctx, "GET", "/channels/"+pathEsc(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Bridges lists every bridge.
func (c *Client) Bridges(ctx context.Context) ([]ari.BridgeData, error) {
	var out []ari.BridgeData
	if err := c.rest.do(ctx, "GET", "/bridges", nil, nil, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Bridge returns one bridge.
func (c *Client) Bridge(ctx context.Context, id string) (*ari.BridgeData, error) {
	var out ari.BridgeData
	if err := c.rest.do(ctx, "GET", "/bridges/"+pathEsc(id), nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (c *Client) chanOp(ctx context.Context, method, id, op string, q url.Values) error {
	return c.rest.do(ctx, method, "/channels/"+pathEsc(id)+op, q, nil, nil)
}

// Answer answers a channel.
func (c *Client) Answer(ctx context.Context, id string) error {
	return c.chanOp(ctx, "POST", id, "/answer", nil)
}

// HangupReasons are the reason values ARI accepts for DELETE /channels/{id}.
var hangupReasons = map[string]bool{
	"normal": true, "busy": true, "congestion": true, "no_answer": true, "timeout": true,
	"rejected": true, "unallocated": true, "normal_unspecified": true, "number_incomplete": true,
	"codec_mismatch": true, "interworking": true, "failure": true, "answered_elsewhere": true,
}

// ErrInvalidArgument is returned before any request is sent when an argument cannot
// be valid.
var ErrInvalidArgument = fmt.Errorf("ari: invalid argument")

// Hangup hangs a channel up with an ARI reason ("normal", "busy", ...; empty = normal).
func (c *Client) Hangup(ctx context.Context, id, reason string) error {
	q := url.Values{}
	if reason != "" {
		if !hangupReasons[reason] {
			return fmt.Errorf("%w: hangup reason %q", ErrInvalidArgument, reason)
		}
		q.Set("reason", reason)
	}
	return c.chanOp(ctx, "DELETE", id, "", q)
}

// HangupCause hangs a channel up with a Q.850 cause code.
func (c *Client) HangupCause(ctx context.Context, id string, cause int) error {
	if cause <= 0 || cause > 127 {
		return fmt.Errorf("%w: Q.850 cause %d", ErrInvalidArgument, cause)
	}
	return c.chanOp(ctx, "DELETE", id, "", url.Values{"reason_code": {strconv.Itoa(cause)}})
}

// Ring indicates ringing to a channel; StopRing stops it.
func (c *Client) Ring(ctx context.Context, id string) error {
	return c.chanOp(ctx, "POST", id, "/ring", nil)
}

// StopRing stops ringing indication.
func (c *Client) StopRing(ctx context.Context, id string) error {
	return c.chanOp(ctx, "DELETE", id, "/ring", nil)
}

// Continue sends the channel back to the dialplan (empty values: next priority).
func (c *Client) Continue(ctx context.Context, id, dialContext, extension string, priority int) error {
	q := url.Values{}
	if dialContext != "" {
		q.Set("context", dialContext)
	}
	if extension != "" {
		q.Set("extension", extension)
	}
	if priority > 0 {
		q.Set("priority", strconv.Itoa(priority))
	}
	return c.chanOp(ctx, "POST", id, "/continue", q)
}

// Hold puts a channel on hold; Unhold takes it off.
func (c *Client) Hold(ctx context.Context, id string) error {
	return c.chanOp(ctx, "POST", id, "/hold", nil)
}

// Unhold takes a channel off hold.
func (c *Client) Unhold(ctx context.Context, id string) error {
	return c.chanOp(ctx, "DELETE", id, "/hold", nil)
}

// StartMOH plays music on hold to a channel ("" = default class).
func (c *Client) StartMOH(ctx context.Context, id, class string) error {
	q := url.Values{}
	if class != "" {
		q.Set("mohClass", class)
	}
	return c.chanOp(ctx, "POST", id, "/moh", q)
}

// StopMOH stops music on hold on a channel.
func (c *Client) StopMOH(ctx context.Context, id string) error {
	return c.chanOp(ctx, "DELETE", id, "/moh", nil)
}

func checkDirection(d string) error {
	switch d {
	case "in", "out", "both":
		return nil
	}
	return fmt.Errorf("%w: direction %q (want in, out or both)", ErrInvalidArgument, d)
}

// Mute mutes a channel in a direction (in, out, both). Asterisk requires the
// direction although its documentation gives a default.
func (c *Client) Mute(ctx context.Context, id, direction string) error {
	if err := checkDirection(direction); err != nil {
		return err
	}
	return c.chanOp(ctx, "POST", id, "/mute", url.Values{"direction": {direction}})
}

// Unmute unmutes a channel in a direction.
func (c *Client) Unmute(ctx context.Context, id, direction string) error {
	if err := checkDirection(direction); err != nil {
		return err
	}
	return c.chanOp(ctx, "DELETE", id, "/mute", url.Values{"direction": {direction}})
}

// SendDTMF sends digits (0-9, A-D, *, #) to a channel.
func (c *Client) SendDTMF(ctx context.Context, id, digits string) error {
	if digits == "" || strings.Trim(digits, "0123456789ABCDabcd*#,") != "" {
		return fmt.Errorf("%w: DTMF digits %q", ErrInvalidArgument, digits)
	}
	return c.chanOp(ctx, "POST", id, "/dtmf", url.Values{"dtmf": {digits}})
}

// GetVar reads a channel variable or function.
func (c *Client) GetVar(ctx context.Context, id, name string) (string, error) {
	var out struct {
		Value string `json:"value"`
	}
	err := c.rest.do(ctx, "GET", "/channels/"+pathEsc(id)+"/variable", url.Values{"variable": {name}}, nil, &out)
	return out.Value, err
}

// SetVar sets a channel variable or function.
func (c *Client) SetVar(ctx context.Context, id, name, value string) error {
	return c.chanOp(ctx, "POST", id, "/variable", url.Values{"variable": {name}, "value": {value}})
}

// PlayTarget names what a playback or recording is for.
type PlayTarget struct {
	ChannelID string
	BridgeID  string
}

func (t PlayTarget) path() (string, error) {
	switch {
	case t.ChannelID != "" && t.BridgeID == "":
		return "/channels/" + pathEsc(t.ChannelID), nil
	case t.BridgeID != "" && t.ChannelID == "":
		return "/bridges/" + pathEsc(t.BridgeID), nil
	}
	return "", fmt.Errorf("%w: play target needs exactly one of channel or bridge", ErrInvalidArgument)
}

// Play starts a playback of one or more media URIs (sound:..., tone:...). playbackID
// may be empty.
func (c *Client) Play(ctx context.Context, t PlayTarget, playbackID string, media ...string) (*ari.PlaybackData, error) {
	p, err := t.path()
	if err != nil {
		return nil, err
	}
	if len(media) == 0 {
		return nil, fmt.Errorf("%w: play needs media", ErrInvalidArgument)
	}
	q := url.Values{"media": {strings.Join(media, ",")}}
	if playbackID != "" {
		q.Set("playbackId", playbackID)
	}
	var out ari.PlaybackData
	if err := c.rest.do(ctx, "POST", p+"/play", q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// StopPlayback stops a playback.
func (c *Client) StopPlayback(ctx context.Context, playbackID string) error {
	return c.rest.do(ctx, "DELETE", "/playbacks/"+pathEsc(playbackID), nil, nil, nil)
}

// CreateBridge creates a bridge; typ is a comma list such as "mixing" or "holding".
func (c *Client) CreateBridge(ctx context.Context, id, typ, name string) (*ari.BridgeData, error) {
	q := url.Values{}
	if typ != "" {
		q.Set("type", typ)
	}
	if name != "" {
		q.Set("name", name)
	}
	var out ari.BridgeData
	path := "/bridges"
	if id != "" {
		path += "/" + pathEsc(id)
	}
	if err := c.rest.do(ctx, "POST", path, q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DestroyBridge destroys a bridge; members stay in Stasis.
func (c *Client) DestroyBridge(ctx context.Context, id string) error {
	return c.rest.do(ctx, "DELETE", "/bridges/"+pathEsc(id), nil, nil, nil)
}

// AddChannel adds (or moves) channels into a bridge.
func (c *Client) AddChannel(ctx context.Context, bridgeID string, channelIDs ...string) error {
	if len(channelIDs) == 0 {
		return fmt.Errorf("%w: addChannel needs a channel", ErrInvalidArgument)
	}
	return c.rest.do(ctx, "POST", "/bridges/"+pathEsc(bridgeID)+"/addChannel",
		url.Values{"channel": {strings.Join(channelIDs, ",")}}, nil, nil)
}

// RemoveChannel removes channels from a bridge.
func (c *Client) RemoveChannel(ctx context.Context, bridgeID string, channelIDs ...string) error {
	if len(channelIDs) == 0 {
		return fmt.Errorf("%w: removeChannel needs a channel", ErrInvalidArgument)
	}
	return c.rest.do(ctx, "POST", "/bridges/"+pathEsc(bridgeID)+"/removeChannel",
		url.Values{"channel": {strings.Join(channelIDs, ",")}}, nil, nil)
}

// StartBridgeMOH plays music on hold to a bridge.
func (c *Client) StartBridgeMOH(ctx context.Context, bridgeID, class string) error {
	q := url.Values{}
	if class != "" {
		q.Set("mohClass", class)
	}
	return c.rest.do(ctx, "POST", "/bridges/"+pathEsc(bridgeID)+"/moh", q, nil, nil)
}

// StopBridgeMOH stops music on hold on a bridge.
func (c *Client) StopBridgeMOH(ctx context.Context, bridgeID string) error {
	return c.rest.do(ctx, "DELETE", "/bridges/"+pathEsc(bridgeID)+"/moh", nil, nil, nil)
}

// OriginateParams are the parameters of POST /channels.
type OriginateParams struct {
	Endpoint       string // e.g. PJSIP/1001 or Local/5550000@callers
	CallerID       string // "Name" <number>
	Timeout        int    // seconds to wait for answer; 0 = Asterisk default (30)
	App            string // defaults to the client's application
	AppArgs        []string
	ChannelID      string
	OtherChannelID string
	Originator     string
	Variables      map[string]string
	// Context/Extension/Priority send the channel to the dialplan instead of the app.
	Context   string
	Extension string
	Priority  int
}

func (p OriginateParams) query(defaultApp string) (url.Values, error) {
	if p.Endpoint == "" || !strings.Contains(p.Endpoint, "/") {
		return nil, fmt.Errorf("%w: originate endpoint %q (want TECH/resource)", ErrInvalidArgument, p.Endpoint)
	}
	q := url.Values{"endpoint": {p.Endpoint}}
	if p.Extension != "" {
		q.Set("extension", p.Extension)
		if p.Context != "" {
			q.Set("context", p.Context)
		}
		if p.Priority > 0 {
			q.Set("priority", strconv.Itoa(p.Priority))
		}
	} else {
		app := p.App
		if app == "" {
			app = defaultApp
		}
		q.Set("app", app)
		if len(p.AppArgs) > 0 {
			q.Set("appArgs", strings.Join(p.AppArgs, ","))
		}
	}
	if p.CallerID != "" {
		q.Set("callerId", p.CallerID)
	}
	if p.Timeout != 0 {
		q.Set("timeout", strconv.Itoa(p.Timeout))
	}
	if p.ChannelID != "" {
		q.Set("channelId", p.ChannelID)
	}
	if p.OtherChannelID != "" {
		q.Set("otherChannelId", p.OtherChannelID)
	}
	if p.Originator != "" {
		q.Set("originator", p.Originator)
	}
	return q, nil
}

type variablesBody struct {
	Variables map[string]string `json:"variables"`
}

func varsBody(v map[string]string) any {
	if len(v) == 0 {
		return nil
	}
	return variablesBody{Variables: v}
}

// Originate creates a channel and dials it (POST /channels). Failures to reach the
// far end arrive later as events (Dial dialstatus, ChannelDestroyed), not as errors.
func (c *Client) Originate(ctx context.Context, p OriginateParams) (*ari.ChannelData, error) {
	q, err := p.query(c.cfg.Application)
	if err != nil {
		return nil, err
	}
	var out ari.ChannelData
	if err := c.rest.do(ctx, "POST", "/channels", q, varsBody(p.Variables), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ExternalMediaParams are the parameters of POST /channels/externalMedia.
type ExternalMediaParams struct {
	ChannelID    string
	App          string // defaults to the client's application
	ExternalHost string // host:port where Asterisk sends RTP
	Format       string // default ulaw
	Variables    map[string]string
}

// ExternalMedia creates an RTP ExternalMedia channel. Its StasisStart arrives after
// this returns; bridging it before that fails with 422.
func (c *Client) ExternalMedia(ctx context.Context, p ExternalMediaParams) (*ari.ChannelData, error) {
	if p.ExternalHost == "" {
		return nil, fmt.Errorf("%w: externalMedia needs external_host", ErrInvalidArgument)
	}
	app := p.App
	if app == "" {
		app = c.cfg.Application
	}
	format := p.Format
	if format == "" {
		format = "ulaw"
	}
	q := url.Values{"app": {app}, "external_host": {p.ExternalHost}, "format": {format},
		"encapsulation": {"rtp"}, "transport": {"udp"}, "direction": {"both"}}
	if p.ChannelID != "" {
		q.Set("channelId", p.ChannelID)
	}
	var out ari.ChannelData
	if err := c.rest.do(ctx, "POST", "/channels/externalMedia", q, varsBody(p.Variables), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SnoopParams are the parameters of POST /channels/{id}/snoop.
type SnoopParams struct {
	SnoopID string
	Spy     string // none, in, out, both
	Whisper string // none, in, out, both
	App     string
	AppArgs []string
}

// Snoop creates a snoop channel on channelID (listen: Spy=both; whisper: Whisper=out).
func (c *Client) Snoop(ctx context.Context, channelID string, p SnoopParams) (*ari.ChannelData, error) {
	app := p.App
	if app == "" {
		app = c.cfg.Application
	}
	q := url.Values{"app": {app}}
	for k, v := range map[string]string{"spy": p.Spy, "whisper": p.Whisper} {
		if v == "" {
			continue
		}
		if v != "none" {
			if err := checkDirection(v); err != nil {
				return nil, err
			}
		}
		q.Set(k, v)
	}
	if q.Get("spy") == "" && q.Get("whisper") == "" {
		return nil, fmt.Errorf("%w: snoop needs spy or whisper", ErrInvalidArgument)
	}
	if len(p.AppArgs) > 0 {
		q.Set("appArgs", strings.Join(p.AppArgs, ","))
	}
	path := "/channels/" + pathEsc(channelID) + "/snoop"
	if p.SnoopID != "" {
		path += "/" + pathEsc(p.SnoopID)
	}
	var out ari.ChannelData
	if err := c.rest.do(ctx, "POST", path, q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RecordParams are the parameters of a bridge or channel recording.
type RecordParams struct {
	Name        string
	Format      string // default wav
	MaxDuration int    // seconds, 0 = unlimited
	IfExists    string // fail (default), overwrite, append
	Beep        bool
}

// Record starts recording a bridge or a channel.
func (c *Client) Record(ctx context.Context, t PlayTarget, p RecordParams) (*ari.LiveRecordingData, error) {
	path, err := t.path()
	if err != nil {
		return nil, err
	}
	if p.Name == "" {
		return nil, fmt.Errorf("%w: recording needs a name", ErrInvalidArgument)
	}
	format := p.Format
	if format == "" {
		format = "wav"
	}
	q := url.Values{"name": {p.Name}, "format": {format}}
	if p.MaxDuration > 0 {
		q.Set("maxDurationSeconds", strconv.Itoa(p.MaxDuration))
	}
	if p.IfExists != "" {
		q.Set("ifExists", p.IfExists)
	}
	if p.Beep {
		q.Set("beep", "true")
	}
	var out ari.LiveRecordingData
	if err := c.rest.do(ctx, "POST", path+"/record", q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// StopRecording stops a live recording and stores it.
func (c *Client) StopRecording(ctx context.Context, name string) error {
	return c.rest.do(ctx, "POST", "/recordings/live/"+pathEsc(name)+"/stop", nil, nil, nil)
}
