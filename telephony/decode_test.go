package telephony

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/CyCoreSystems/ari/v5"
)

// sameDecode checks that decodeEvent (fast path first) and the reference decoder
// agree on data: same error class, type, typed event and raw frame.
func sameDecode(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	now := time.Unix(1, 0)
	got, gotTyp, gotErr := decodeEvent(data, now)
	want, wantTyp, wantErr := decodeEventSlow(data, now)
	if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("%s: err %v, reference %v", data, gotErr, wantErr)
	}
	if gotTyp != wantTyp {
		t.Fatalf("%s: type %q, reference %q", data, gotTyp, wantTyp)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %#v\nwant %#v", data, got, want)
	}
	owned, _, ownedErr := decodeOwnedEvent(bytes.Clone(data), now) // what the reader calls
	if (ownedErr == nil) != (gotErr == nil) || !reflect.DeepEqual(owned, got) {
		t.Fatalf("%s: the reader's decoder gives %#v, %v", data, owned, ownedErr)
	}
	_, _, fast = decodeFast(data)
	return fast
}

// Every event of the real-Asterisk recordings decodes through the fast path to
// exactly what the reference decoder (ari/v5's, three parses) gives.
func TestDecodeFastMatchesReferenceOnRecordings(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "shared", "ari-traces", "*.jsonl"))
	if err != nil || len(files) == 0 {
		t.Fatalf("the recordings in ../shared/ari-traces are required: %v %d", err, len(files))
	}
	fast, seen := 0, map[string]bool{}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct {
				Kind  string          `json:"kind"`
				Event json.RawMessage `json:"event"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if line.Kind != "event" {
				continue
			}
			if sameDecode(t, line.Event) {
				fast++
				var h struct{ Type string }
				if err := json.Unmarshal(line.Event, &h); err != nil {
					t.Fatal(err)
				}
				seen[h.Type] = true
			}
		}
		if err := errors.Join(sc.Err(), f.Close()); err != nil {
			t.Fatal(err)
		}
	}
	if fast < 50 || !seen["StasisStart"] || !seen["ChannelVarset"] || !seen["ChannelHangupRequest"] {
		t.Fatalf("only %d recorded events took the fast path (types %v)", fast, seen)
	}
}

// Every type the fast path knows decodes to the same Go type as ari/v5 gives it.
func TestDecodeFastTypesMatchARI(t *testing.T) {
	for name := range newEventOf {
		data := []byte(`{"type":"` + name + `","application":"ctid"}`)
		ref, err := ari.DecodeEvent(data)
		if err != nil || ref == nil {
			t.Fatalf("%s: ari/v5 does not know it: %v", name, err)
		}
		e, typ, ok := decodeFast(data)
		if !ok || typ != name || reflect.TypeOf(e) != reflect.TypeOf(ref) {
			t.Fatalf("%s: fast path %T %q %v, ari/v5 %T", name, e, typ, ok, ref)
		}
		sameDecode(t, data)
	}
}

// Frames the top-level scan must read as encoding/json does, or leave to the
// reference decoder.
func TestDecodeFastEdgeCases(t *testing.T) {
	frames := []struct {
		frame string
		fast  bool
	}{
		{`{"type":"StasisEnd","channel":{"id":"1","type":"x"}}`, true},
		{`{"channel":{"id":"1","channelvars":{"type":"Dial"}},"type":"StasisEnd"}`, true},
		{`{"TYPE":"StasisEnd"}`, true},
		{`{"type":"Dial","Type":"StasisEnd"}`, true}, // the last matching key wins, as in encoding/json
		{` { "type" : "StasisEnd" , "args" : [ "a" , "b]" ] , "n" : 1.5e3 , "b" : true } `, true},
		{`{"type":"Stasis\u0045nd"}`, false},
		{`{"typ\u0065":"StasisEnd"}`, false},
		{`{"type":null,"a":1}`, false},
		{`{"type":1}`, false},
		{`{"type":""}`, false},
		{`{"type":"StasisEnd",}`, false},
		{`{"type":"StasisEnd"} x`, false},
		{`{"type":"StasisEnd"`, false},
		{`{"type":"StasisEnd","channel":{"id":"1"}`, false},
		{`{"type":"StasisEnd","channel":"unterminated}`, false},
		{`{"type":"StasisStart","args":"x","channel":{"id":"1"}}`, false}, // wrong field type
		{`{"type":"StasisStart","timestamp":"yesterday"}`, false},
		{`{"type":"ChannelTransfer"}`, false},                  // unknown to ari/v5
		{`{"type":"ChannelUserevent","eventname":"x"}`, false}, // known to ari/v5, not subscribed
		{`{}`, false}, {`[]`, false}, {`null`, false}, {``, false}, {`{`, false},
	}
	for _, f := range frames {
		if got := sameDecode(t, []byte(f.frame)); got != f.fast {
			t.Errorf("%s: fast path %v, want %v", f.frame, got, f.fast)
		}
	}
}
