// Package aridoc loads Asterisk's own ARI description (the Swagger 1.1/1.2 api-docs
// files shipped with Asterisk, kept in ../shared/ari-api-docs) and uses it as a
// checker: routes, request parameters, response models and events.
//
// It is a non-test package so that both the emulator's contract test and ctid's
// adapter tests can check what they send and receive against the same contract:
//
//	dir, err := aridoc.DefaultDir() // ../shared/ari-api-docs, found walking up
//	spec, err := aridoc.Load(dir)
//	spec.CheckRequest("POST", "/channels/1.2/mute", url.Values{"direction": {"in"}}, nil)
//	spec.CheckModel("Channel", body)   // or "List[Bridge]", "Playback", ...
//	spec.CheckEvent(frame)             // by "type", with Event/Message fields
//	spec.SampleEvent("ChannelTransfer", "ctid", "52:54:00:12:34:56")
//
// Documented exceptions where real Asterisk 20.20.1 and its description disagree:
// GlobalQueryParams (api_key) and EnumExceptions (Playback.state "paused"). A body
// parameter of dataType "object" (eventFilter's filter) is the whole JSON body.
package aridoc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors.
var (
	// ErrNoDocs is returned when the api-docs directory cannot be found or read.
	ErrNoDocs = errors.New("aridoc: ARI api-docs not found")
	// ErrBadDocs is returned when an api-docs file cannot be parsed.
	ErrBadDocs = errors.New("aridoc: malformed ARI api-docs")
)

// DateLayout is the format Asterisk uses for timestamps and creationtime
// (milliseconds and a numeric zone without colon, e.g. 2026-11-22T13:03:41.049+0000).
const DateLayout = "2006-01-02T15:04:05.000-0700"

// GlobalQueryParams returns the query parameters Asterisk accepts on every route
// although no operation declares them. Documented exception: `api_key=user:password`
// is Asterisk's alternative to basic auth (res_ari.c), used by the recordings (fact 47).
func GlobalQueryParams() []string { return []string{"api_key"} }

// EnumExceptions returns the values real Asterisk 20.20.1 sends although the model's
// allowableValues do not list them, keyed "Model.property". Documented exception:
// GET /playbacks/{id} of a paused playback answers state "paused" (recorded in
// channel-ops, fact 14), but Playback.state lists only queued/playing/continuing/
// done/failed.
func EnumExceptions() map[string][]string {
	return map[string][]string{"Playback.state": {"paused"}}
}

// Route is one HTTP method on one swagger path template (e.g. "/channels/{channelId}").
type Route struct {
	Method string
	Path   string
}

// String renders "METHOD /path".
func (r Route) String() string { return r.Method + " " + r.Path }

// Problem is one violation of the contract.
type Problem struct {
	// Where is a JSON-path-like location ("event.channel.state", "query.direction").
	Where string
	// Msg says what is wrong.
	Msg string
}

// String renders "where: msg".
func (p Problem) String() string {
	if p.Where == "" {
		return p.Msg
	}
	return p.Where + ": " + p.Msg
}

// Param is one declared operation parameter.
type Param struct {
	Name          string
	ParamType     string // path, query, body
	DataType      string // string, int, long, boolean, containers, object
	Required      bool
	AllowMultiple bool
	Values        []string // allowableValues LIST
	Min, Max      *float64 // allowableValues RANGE
}

// Operation is one declared HTTP operation.
type Operation struct {
	Route
	Nickname      string
	ResponseClass string
	Upgrade       string
	Params        []Param
}

// Property is one declared model property.
type Property struct {
	Name     string
	Type     string
	Required bool
	Values   []string
}

// Model is one declared JSON model.
type Model struct {
	ID            string
	Properties    map[string]Property
	SubTypes      []string
	Discriminator string
	Parent        string
}

// Spec is the loaded ARI description.
type Spec struct {
	dir    string
	ops    []*Operation
	models map[string]*Model
}

type rawDoc struct {
	APIs []struct {
		Path       string `json:"path"`
		Operations []struct {
			HTTPMethod    string `json:"httpMethod"`
			Nickname      string `json:"nickname"`
			ResponseClass string `json:"responseClass"`
			Upgrade       string `json:"upgrade"`
			Parameters    []struct {
				Name            string      `json:"name"`
				ParamType       string      `json:"paramType"`
				Required        bool        `json:"required"`
				AllowMultiple   bool        `json:"allowMultiple"`
				DataType        string      `json:"dataType"`
				AllowableValues *rawAllowed `json:"allowableValues"`
			} `json:"parameters"`
		} `json:"operations"`
	} `json:"apis"`
	Models map[string]struct {
		ID            string   `json:"id"`
		SubTypes      []string `json:"subTypes"`
		Discriminator string   `json:"discriminator"`
		Properties    map[string]struct {
			Type            string      `json:"type"`
			Required        bool        `json:"required"`
			AllowableValues *rawAllowed `json:"allowableValues"`
		} `json:"properties"`
	} `json:"models"`
}

type rawAllowed struct {
	ValueType string   `json:"valueType"`
	Values    []string `json:"values"`
	Min       *float64 `json:"min"`
	Max       *float64 `json:"max"`
}

type rawListing struct {
	APIs []struct {
		Path string `json:"path"`
	} `json:"apis"`
}

// DefaultDir finds ../shared/ari-api-docs (or shared/ari-api-docs) walking up from
// the current directory, as tests run in package directories.
func DefaultDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("%w: getwd: %v", ErrNoDocs, err)
	}
	var looked []string
	for d := wd; ; {
		for _, c := range []string{
			filepath.Join(d, "..", "shared", "ari-api-docs"),
			filepath.Join(d, "shared", "ari-api-docs"),
		} {
			c = filepath.Clean(c)
			looked = append(looked, c)
			if st, statErr := os.Stat(filepath.Join(c, "resources.json")); statErr == nil && !st.IsDir() {
				return c, nil
			}
		}
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	return "", fmt.Errorf("%w: no resources.json in ../shared/ari-api-docs above %s (looked in %s); "+
		"the shared folder must sit next to the repository root", ErrNoDocs, wd, strings.Join(looked, ", "))
}

// Load reads resources.json and every api-docs file it lists from dir.
func Load(dir string) (*Spec, error) {
	listingBytes, err := os.ReadFile(filepath.Join(dir, "resources.json"))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNoDocs, dir, err)
	}
	var listing rawListing
	if err := json.Unmarshal(listingBytes, &listing); err != nil {
		return nil, fmt.Errorf("%w: resources.json: %v", ErrBadDocs, err)
	}
	s := &Spec{dir: dir, models: map[string]*Model{}}
	for _, a := range listing.APIs {
		name := strings.TrimSuffix(filepath.Base(a.Path), ".{format}") + ".json"
		if err := s.loadFile(filepath.Join(dir, name)); err != nil {
			return nil, err
		}
	}
	if len(s.ops) == 0 {
		return nil, fmt.Errorf("%w: %s lists no operations", ErrBadDocs, dir)
	}
	for _, m := range s.models {
		for _, st := range m.SubTypes {
			if sub, ok := s.models[st]; ok {
				sub.Parent = m.ID
			}
		}
	}
	return s, nil
}

func (s *Spec) loadFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoDocs, err)
	}
	var doc rawDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadDocs, filepath.Base(path), err)
	}
	for _, a := range doc.APIs {
		for _, o := range a.Operations {
			op := &Operation{
				Route:         Route{Method: strings.ToUpper(o.HTTPMethod), Path: a.Path},
				Nickname:      o.Nickname,
				ResponseClass: o.ResponseClass,
				Upgrade:       o.Upgrade,
			}
			for _, p := range o.Parameters {
				pp := Param{Name: p.Name, ParamType: p.ParamType, DataType: p.DataType,
					Required: p.Required, AllowMultiple: p.AllowMultiple}
				if av := p.AllowableValues; av != nil {
					if strings.EqualFold(av.ValueType, "LIST") {
						pp.Values = av.Values
					} else {
						pp.Min, pp.Max = av.Min, av.Max
					}
				}
				op.Params = append(op.Params, pp)
			}
			s.ops = append(s.ops, op)
		}
	}
	for key, m := range doc.Models {
		id := m.ID
		if id == "" {
			id = key
		}
		mm := &Model{ID: id, Properties: map[string]Property{}, SubTypes: m.SubTypes, Discriminator: m.Discriminator}
		for name, p := range m.Properties {
			pr := Property{Name: name, Type: p.Type, Required: p.Required}
			if p.AllowableValues != nil && strings.EqualFold(p.AllowableValues.ValueType, "LIST") {
				pr.Values = p.AllowableValues.Values
			}
			mm.Properties[name] = pr
		}
		if _, dup := s.models[id]; !dup {
			s.models[id] = mm
		}
	}
	return nil
}

// Dir is the directory the spec was loaded from.
func (s *Spec) Dir() string { return s.dir }

// Routes lists every declared route, sorted by path then method.
func (s *Spec) Routes() []Route {
	out := make([]Route, 0, len(s.ops))
	for _, o := range s.ops {
		out = append(out, o.Route)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}

// HasRoute reports whether method+template is declared.
func (s *Spec) HasRoute(r Route) bool {
	for _, o := range s.ops {
		if o.Route == r {
			return true
		}
	}
	return false
}

// Operation returns the declared operation for a route.
func (s *Spec) Operation(r Route) (*Operation, bool) {
	for _, o := range s.ops {
		if o.Route == r {
			return o, true
		}
	}
	return nil, false
}

// Model returns a declared model by id.
func (s *Spec) Model(id string) (*Model, bool) {
	m, ok := s.models[id]
	return m, ok
}

// matchTemplate matches a raw path against a template; it returns the path params
// and the number of literal segments (more literal = more specific).
func matchTemplate(tmpl, raw string) (map[string]string, int, bool) {
	ts := strings.Split(strings.Trim(tmpl, "/"), "/")
	rs := strings.Split(strings.Trim(raw, "/"), "/")
	if len(ts) != len(rs) {
		return nil, 0, false
	}
	params := map[string]string{}
	literal := 0
	for i, t := range ts {
		if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
			if rs[i] == "" {
				return nil, 0, false
			}
			v, err := url.PathUnescape(rs[i])
			if err != nil {
				v = rs[i]
			}
			params[t[1:len(t)-1]] = v
			continue
		}
		if t != rs[i] {
			return nil, 0, false
		}
		literal++
	}
	return params, literal, true
}

// matchPath returns the most specific template matching rawPath (ignoring method) and
// the operations declared on it.
func (s *Spec) matchPath(rawPath string) (string, map[string]string, bool) {
	best, bestLit := "", -1
	var bestParams map[string]string
	seen := map[string]bool{}
	for _, o := range s.ops {
		if seen[o.Path] {
			continue
		}
		seen[o.Path] = true
		p, lit, ok := matchTemplate(o.Path, rawPath)
		if ok && lit > bestLit {
			best, bestLit, bestParams = o.Path, lit, p
		}
	}
	return best, bestParams, bestLit >= 0
}

// MatchRoute finds the route for method and rawPath (without the /ari prefix). Literal
// segments win over templates ("/channels/create" is not "/channels/{channelId}"), but
// only among templates that declare the method.
func (s *Spec) MatchRoute(method, rawPath string) (Route, map[string]string, bool) {
	method = strings.ToUpper(method)
	if i := strings.IndexByte(rawPath, '?'); i >= 0 {
		rawPath = rawPath[:i]
	}
	var best Route
	var bestParams map[string]string
	bestLit := -1
	for _, o := range s.ops {
		if o.Method != method {
			continue
		}
		p, lit, ok := matchTemplate(o.Path, rawPath)
		if ok && lit > bestLit {
			best, bestParams, bestLit = o.Route, p, lit
		}
	}
	if bestLit < 0 {
		return Route{}, nil, false
	}
	return best, bestParams, true
}

// CheckRequest checks one request against the declared operation: the route and
// method exist, every query/body parameter is declared, required ones are present
// (in the query or, as Asterisk allows, as JSON body fields) and values have the
// declared type and allowable values.
func (s *Spec) CheckRequest(method, rawPath string, query url.Values, body map[string]any) []Problem {
	route, pathParams, ok := s.MatchRoute(method, rawPath)
	if !ok {
		if tmpl, _, found := s.matchPath(rawPath); found {
			return []Problem{{Where: "route", Msg: fmt.Sprintf("method %s not declared on %s", strings.ToUpper(method), tmpl)}}
		}
		return []Problem{{Where: "route", Msg: fmt.Sprintf("unknown route %s %s", strings.ToUpper(method), rawPath)}}
	}
	op, ok := s.Operation(route)
	if !ok {
		return []Problem{{Where: "route", Msg: "no operation for " + route.String()}}
	}
	var probs []Problem
	declared := map[string]Param{}
	for _, p := range op.Params {
		declared[p.Name] = p
	}
	for name, vals := range query {
		if isGlobal(name) {
			continue
		}
		p, ok := declared[name]
		if !ok || p.ParamType == "path" {
			probs = append(probs, Problem{Where: "query." + name, Msg: "parameter not declared for " + route.String()})
			continue
		}
		if p.ParamType == "body" {
			probs = append(probs, Problem{Where: "query." + name, Msg: "body parameter given in the query"})
			continue
		}
		for _, v := range vals {
			probs = append(probs, checkParamString(p, "query."+name, v)...)
		}
	}
	wholeBody := false
	for _, p := range op.Params {
		// A body parameter of dataType "object" (eventFilter's "filter") is the whole
		// JSON body, not a field of it; "containers" parameters ("variables") are
		// fields of the body.
		if p.ParamType == "body" && p.DataType == "object" {
			wholeBody = true
		}
	}
	for name, v := range body {
		if wholeBody {
			break
		}
		p, ok := declared[name]
		if !ok || p.ParamType == "path" {
			probs = append(probs, Problem{Where: "body." + name, Msg: "field not declared for " + route.String()})
			continue
		}
		probs = append(probs, checkParamJSON(p, "body."+name, v)...)
	}
	for _, p := range op.Params {
		if !p.Required {
			continue
		}
		switch p.ParamType {
		case "path":
			if pathParams[p.Name] == "" {
				probs = append(probs, Problem{Where: "path." + p.Name, Msg: "required path parameter is empty"})
			}
		default:
			if p.ParamType == "body" && p.DataType == "object" {
				continue
			}
			_, inQuery := query[p.Name]
			_, inBody := body[p.Name]
			if !inQuery && !inBody {
				probs = append(probs, Problem{Where: p.ParamType + "." + p.Name, Msg: "required parameter missing"})
			}
		}
	}
	sortProblems(probs)
	return probs
}

func isGlobal(name string) bool {
	for _, g := range GlobalQueryParams() {
		if g == name {
			return true
		}
	}
	return false
}

func checkParamString(p Param, where, v string) []Problem {
	vals := []string{v}
	if p.AllowMultiple {
		vals = strings.Split(v, ",")
	}
	var probs []Problem
	for _, one := range vals {
		switch p.DataType {
		case "int", "long":
			n, err := strconv.ParseInt(strings.TrimSpace(one), 10, 64)
			if err != nil {
				probs = append(probs, Problem{Where: where, Msg: fmt.Sprintf("%q is not an %s", one, p.DataType)})
				continue
			}
			probs = append(probs, checkRange(p, where, float64(n))...)
		case "boolean":
			if _, ok := parseBool(one); !ok {
				probs = append(probs, Problem{Where: where, Msg: fmt.Sprintf("%q is not a boolean", one)})
			}
		case "containers", "object":
			probs = append(probs, Problem{Where: where, Msg: p.DataType + " parameter must be a JSON body field"})
		}
		if len(p.Values) > 0 && !contains(p.Values, one) {
			probs = append(probs, Problem{Where: where, Msg: fmt.Sprintf("%q not in allowable values %v", one, p.Values)})
		}
	}
	return probs
}

func checkParamJSON(p Param, where string, v any) []Problem {
	switch p.DataType {
	case "containers":
		m, ok := v.(map[string]any)
		if !ok {
			return []Problem{{Where: where, Msg: "must be a JSON object"}}
		}
		var probs []Problem
		for k, fv := range m {
			switch x := fv.(type) {
			case string:
			case map[string]any:
				// Asterisk 20 accepts {"value": "...", "report_events": bool} (fact 9).
				if _, ok := x["value"].(string); !ok {
					probs = append(probs, Problem{Where: where + "." + k, Msg: "object form needs a string value"})
				}
			default:
				probs = append(probs, Problem{Where: where + "." + k, Msg: "variable value must be a string"})
			}
		}
		return probs
	case "object":
		if _, ok := v.(map[string]any); !ok {
			return []Problem{{Where: where, Msg: "must be a JSON object"}}
		}
		return nil
	}
	switch x := v.(type) {
	case string:
		return checkParamString(p, where, x)
	case float64:
		switch p.DataType {
		case "int", "long":
			if x != float64(int64(x)) {
				return []Problem{{Where: where, Msg: "not an integer"}}
			}
			return checkRange(p, where, x)
		case "string":
			// Asterisk converts JSON numbers to strings for string parameters.
			return nil
		}
		return []Problem{{Where: where, Msg: fmt.Sprintf("number given for %s", p.DataType)}}
	case bool:
		if p.DataType == "boolean" {
			return nil
		}
		return []Problem{{Where: where, Msg: fmt.Sprintf("boolean given for %s", p.DataType)}}
	case []any:
		if !p.AllowMultiple {
			return []Problem{{Where: where, Msg: "array given for a single-valued parameter"}}
		}
		var probs []Problem
		for _, e := range x {
			probs = append(probs, checkParamJSON(Param{Name: p.Name, DataType: p.DataType, Values: p.Values, Min: p.Min, Max: p.Max}, where, e)...)
		}
		return probs
	}
	return []Problem{{Where: where, Msg: fmt.Sprintf("unsupported JSON value %T", v)}}
}

func checkRange(p Param, where string, n float64) []Problem {
	if p.Min != nil && n < *p.Min {
		return []Problem{{Where: where, Msg: fmt.Sprintf("%v below minimum %v", n, *p.Min)}}
	}
	if p.Max != nil && n > *p.Max {
		return []Problem{{Where: where, Msg: fmt.Sprintf("%v above maximum %v", n, *p.Max)}}
	}
	return nil
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "1", "on", "y", "t":
		return true, true
	case "false", "no", "0", "off", "n", "f":
		return false, true
	}
	return false, false
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func sortProblems(p []Problem) {
	sort.SliceStable(p, func(i, j int) bool { return p[i].Where < p[j].Where })
}

// CheckModel checks a JSON value against a declared model or type expression
// ("Channel", "List[Bridge]", "string", "void"...). Unknown fields are problems.
func (s *Spec) CheckModel(model string, v json.RawMessage) []Problem {
	if model == "void" || model == "binary" {
		return nil
	}
	var x any
	if err := json.Unmarshal(v, &x); err != nil {
		return []Problem{{Where: "$", Msg: "invalid JSON: " + err.Error()}}
	}
	var probs []Problem
	s.checkValue(model, "$", x, &probs)
	return probs
}

// CheckEvent checks one events-WebSocket message by its "type" against events.json,
// with the fields inherited from Event and Message.
func (s *Spec) CheckEvent(raw []byte) []Problem {
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return []Problem{{Where: "event", Msg: "not a JSON object: " + err.Error()}}
	}
	typ, ok := obj["type"].(string)
	if !ok {
		return []Problem{{Where: "event.type", Msg: "missing or not a string"}}
	}
	m, ok := s.models[typ]
	if !ok || !s.isSubtypeOf(typ, "Message") || len(m.SubTypes) > 0 {
		return []Problem{{Where: "event.type", Msg: fmt.Sprintf("%q is not a concrete message type of events.json", typ)}}
	}
	var probs []Problem
	s.checkObject(typ, "event", obj, &probs)
	return probs
}

func (s *Spec) isSubtypeOf(typ, base string) bool {
	for t := typ; t != ""; {
		if t == base {
			return true
		}
		m, ok := s.models[t]
		if !ok {
			return false
		}
		t = m.Parent
	}
	return false
}

// properties returns the properties of a model including inherited ones.
func (s *Spec) properties(id string) map[string]Property {
	out := map[string]Property{}
	for t := id; t != ""; {
		m, ok := s.models[t]
		if !ok {
			break
		}
		for k, p := range m.Properties {
			if _, exists := out[k]; !exists {
				out[k] = p
			}
		}
		t = m.Parent
	}
	return out
}

// EventTypes lists every concrete event type (a leaf under Event) in events.json.
func (s *Spec) EventTypes() []string {
	var out []string
	for id, m := range s.models {
		if len(m.SubTypes) == 0 && id != "Event" && s.isSubtypeOf(id, "Event") {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Spec) checkValue(typ, where string, v any, probs *[]Problem) {
	if inner, ok := strings.CutPrefix(typ, "List["); ok {
		inner = strings.TrimSuffix(inner, "]")
		arr, ok := v.([]any)
		if !ok {
			*probs = append(*probs, Problem{Where: where, Msg: fmt.Sprintf("want array (%s), got %s", typ, jsonKind(v))})
			return
		}
		for i, e := range arr {
			s.checkValue(inner, fmt.Sprintf("%s[%d]", where, i), e, probs)
		}
		return
	}
	switch typ {
	case "string":
		if _, ok := v.(string); !ok {
			*probs = append(*probs, Problem{Where: where, Msg: "want string, got " + jsonKind(v)})
		}
		return
	case "int", "long":
		f, ok := v.(float64)
		if !ok || f != float64(int64(f)) {
			*probs = append(*probs, Problem{Where: where, Msg: "want integer, got " + jsonKind(v)})
		}
		return
	case "double", "float", "number":
		if _, ok := v.(float64); !ok {
			*probs = append(*probs, Problem{Where: where, Msg: "want number, got " + jsonKind(v)})
		}
		return
	case "boolean":
		if _, ok := v.(bool); !ok {
			*probs = append(*probs, Problem{Where: where, Msg: "want boolean, got " + jsonKind(v)})
		}
		return
	case "Date":
		str, ok := v.(string)
		if !ok {
			*probs = append(*probs, Problem{Where: where, Msg: "want date string, got " + jsonKind(v)})
			return
		}
		if _, err := time.Parse(DateLayout, str); err != nil {
			*probs = append(*probs, Problem{Where: where, Msg: fmt.Sprintf("date %q not in Asterisk format %s", str, DateLayout)})
		}
		return
	case "object", "containers":
		if _, ok := v.(map[string]any); !ok {
			*probs = append(*probs, Problem{Where: where, Msg: "want object, got " + jsonKind(v)})
		}
		return
	}
	obj, ok := v.(map[string]any)
	if !ok {
		*probs = append(*probs, Problem{Where: where, Msg: fmt.Sprintf("want %s object, got %s", typ, jsonKind(v))})
		return
	}
	m, ok := s.models[typ]
	if !ok {
		*probs = append(*probs, Problem{Where: where, Msg: fmt.Sprintf("model %q not declared", typ)})
		return
	}
	if m.Discriminator != "" || len(m.SubTypes) > 0 {
		if t, ok := obj["type"].(string); ok && s.isSubtypeOf(t, typ) {
			typ = t
		}
	}
	s.checkObject(typ, where, obj, probs)
}

func (s *Spec) checkObject(typ, where string, obj map[string]any, probs *[]Problem) {
	props := s.properties(typ)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, ok := props[k]
		if !ok {
			*probs = append(*probs, Problem{Where: where + "." + k, Msg: fmt.Sprintf("field not declared in %s", typ)})
			continue
		}
		s.checkValue(p.Type, where+"."+k, obj[k], probs)
		if len(p.Values) > 0 {
			if str, ok := obj[k].(string); ok && !contains(p.Values, str) && !contains(EnumExceptions()[typ+"."+k], str) {
				*probs = append(*probs, Problem{Where: where + "." + k, Msg: fmt.Sprintf("%q not in allowable values %v", str, p.Values)})
			}
		}
	}
	names := make([]string, 0, len(props))
	for k := range props {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if props[k].Required {
			if _, ok := obj[k]; !ok {
				*probs = append(*probs, Problem{Where: where + "." + k, Msg: fmt.Sprintf("required field of %s missing", typ)})
			}
		}
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// SampleEvent builds a minimal valid event of type typ: every required field is
// filled with a plausible value of the declared type. It returns nil for a type
// events.json does not declare.
func (s *Spec) SampleEvent(typ, app, asteriskID string) []byte {
	if _, ok := s.models[typ]; !ok || !s.isSubtypeOf(typ, "Message") {
		return nil
	}
	obj := s.sampleObject(typ, 0)
	obj["type"] = typ
	if s.isSubtypeOf(typ, "Event") {
		obj["application"] = app
	}
	obj["asterisk_id"] = asteriskID
	b, err := json.Marshal(obj)
	if err != nil {
		return nil
	}
	return b
}

const sampleDate = "2026-01-01T00:00:00.000+0000"

func (s *Spec) sampleObject(typ string, depth int) map[string]any {
	obj := map[string]any{}
	for name, p := range s.properties(typ) {
		if !p.Required {
			continue
		}
		obj[name] = s.sampleValue(name, p, depth)
	}
	return obj
}

func (s *Spec) sampleValue(name string, p Property, depth int) any {
	if len(p.Values) > 0 {
		return p.Values[0]
	}
	switch {
	case strings.HasPrefix(p.Type, "List["):
		return []any{}
	}
	switch p.Type {
	case "string":
		switch name {
		case "id":
			return "1700000000.1"
		case "state":
			return "Up"
		}
		return "sample-" + name
	case "int", "long":
		return 1
	case "double":
		return 1.5
	case "boolean":
		return false
	case "Date":
		return sampleDate
	case "object", "containers":
		return map[string]any{}
	}
	if depth > 6 {
		return map[string]any{}
	}
	return s.sampleObject(p.Type, depth+1)
}
