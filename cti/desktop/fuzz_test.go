package desktop

import (
	"encoding/json"
	"testing"
)

// FuzzDecodeCommand feeds arbitrary frames through the decoder and every command's
// validator: no panic, and every outcome is either a command or an invalid_argument.
func FuzzDecodeCommand(f *testing.F) {
	seeds := []string{
		`{"id":"1","cmd":"agent.ready"}`,
		`{"id":2,"cmd":"call.transfer","call_id":"c-1","to":{"agent":"bob"},"mode":"blind"}`,
		`{"id":"3","cmd":"call.transfer","call_id":"c-1","to":{"agent":"bob","queue":"q"},"mode":"attended"}`,
		`{"id":"4","cmd":"wrapup.done","call_id":"c","disposition":"sale","notes":"n","callback_at":"2026-01-02T10:00:00Z"}`,
		`{"id":"5","cmd":"rtc.candidate","candidate":{"candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host"}}`,
		`{"id":"6","cmd":"resume","after":18446744073709551615}`,
		`{"id":"7","cmd":"call.dtmf","call_id":"c","digits":"1#"}`,
		`{"id":null,"cmd":"supervisor.set_state","agent":"a","state":"ready"}`,
		`{"cmd":"x"} trailing`, `{`, `[]`, `null`, "\xff", `{"id":{"a":1},"cmd":"ping"}`,
		`{"id":"8","cmd":"call.dial","number":"+4822","campaign_id":{"x":[1,2]}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	specs := map[string]CommandSpec{}
	for _, s := range builtinSpecs() {
		specs[s.Name] = s
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		cmd, err := DecodeCommand(frame)
		if err != nil {
			e, ok := err.(*Error)
			if !ok || e.Code != CodeInvalidArgument {
				t.Fatalf("decode error %v is not invalid_argument", err)
			}
			if len(cmd.ID) > 0 && !json.Valid(cmd.ID) {
				t.Fatalf("id %q is not JSON", cmd.ID)
			}
			_ = replyErr(cmd.ID, e) // the reply must marshal (a panic fails the fuzz)
			return
		}
		if cmd.Name == "" {
			t.Fatal("decoded a command without a name")
		}
		if len(cmd.ID) > 0 && !json.Valid(cmd.ID) {
			t.Fatalf("id %q is not JSON", cmd.ID)
		}
		if _, _, err := resumeArgs(cmd); err != nil {
			if e, ok := err.(*Error); !ok || e.Code != CodeInvalidArgument {
				t.Fatalf("resume: %v", err)
			}
		}
		if spec, ok := specs[cmd.Name]; ok && spec.Validate != nil {
			if err := spec.Validate(cmd); err != nil {
				if e, ok := err.(*Error); !ok || e.Code != CodeInvalidArgument {
					t.Fatalf("%s: %v", cmd.Name, err)
				}
			} else if cmd.Name == "call.transfer" {
				var ta TransferArgs
				if err := cmd.Decode(&ta); err != nil {
					t.Fatalf("valid transfer does not decode: %v", err)
				}
				n := 0
				for _, s := range []string{ta.To.Agent, ta.To.Queue, ta.To.Number} {
					if s != "" {
						n++
					}
				}
				if n != 1 || (ta.Mode != "blind" && ta.Mode != "attended") {
					t.Fatalf("transfer passed validation: %+v", ta)
				}
			}
		}
		if b := replyOK(cmd.ID, nil); !json.Valid(b) {
			t.Fatalf("reply %s is not JSON", b)
		}
	})
}
