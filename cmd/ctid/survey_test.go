package main

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/spf13/viper"
)

// queues[].survey is read from the file and validated with the rest of the config.
func TestQueueSurveyConfig(t *testing.T) {
	sample, err := os.ReadFile("../../configs/ctid.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "    recording: never"
	if !bytes.Contains(sample, []byte(anchor)) {
		t.Fatalf("sample config lost %q", anchor)
	}
	with := func(survey string) string { // after the whole line holding anchor
		i := bytes.Index(sample, []byte(anchor))
		end := i + bytes.IndexByte(sample[i:], '\n') + 1
		return string(sample[:end]) + survey + "\n" + string(sample[end:])
	}
	good := with(`    survey:
      intro: ["sound:ctid-survey-intro"]
      questions:
        - {kind: nps, prompt: ["sound:ctid-survey-nps"]}
        - {kind: csat, prompt: ["sound:ctid-survey-csat"]}
      invalid: ["sound:ctid-survey-invalid"]
      goodbye: ["sound:ctid-survey-thanks"]
      answer_timeout: 6s
      digit_timeout: 2s`)
	fc, err := loadConfig(viper.New(), writeConfig(t, good))
	if err != nil {
		t.Fatal(err)
	}
	ss := fc.surveys()
	if len(ss) != 1 || ss[0].Queue != "sales" || len(ss[0].Questions) != 2 || ss[0].Questions[1].Kind != "csat" ||
		ss[0].Questions[0].Prompt[0] != "sound:ctid-survey-nps" || ss[0].AnswerTimeout.Seconds() != 6 || ss[0].Goodbye[0] != "sound:ctid-survey-thanks" {
		t.Fatalf("surveys %+v", ss)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"check", "--config", writeConfig(t, good)}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s %s", code, out.String(), errb.String())
	}
	bad := with("    survey:\n      questions:\n        - {kind: ces, prompt: [\"sound:x\"]}")
	errb.Reset()
	if code := run([]string{"check", "--config", writeConfig(t, bad)}, &out, &errb); code != exitConfig || !strings.Contains(errb.String(), `survey.questions[0].kind: "ces"`) {
		t.Fatalf("bad kind: exit %d %q", code, errb.String())
	}
}
