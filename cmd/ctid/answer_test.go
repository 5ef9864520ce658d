package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/spf13/viper"

	"github.com/ctid/ctid/cti"
)

func TestQueueAnswerKey(t *testing.T) {
	const head = "asterisk:\n  mode: emulator\ndemo:\n  traffic: false\n"
	body := head + "queues:\n  - id: sales\n    answer: on_connect\n  - id: support\n  - id: vip\n    answer: on_arrival\n"
	fc, err := loadConfig(viper.New(), writeConfig(t, body))
	if err != nil {
		t.Fatal(err)
	}
	got := fc.callsConfig().Answers
	want := []cti.QueueAnswer{{Queue: "sales", Mode: cti.AnswerOnConnect}, {Queue: "vip", Mode: cti.AnswerOnArrival}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("answers %v, want %v", got, want)
	}
	_, err = loadConfig(viper.New(), writeConfig(t, head+"queues:\n  - id: sales\n    answer: later\n"))
	if !errors.Is(err, errConfig) || !strings.Contains(err.Error(), `queues[0].answer: `) || !strings.Contains(err.Error(), `"later"`) {
		t.Fatalf("bad answer mode: %v", err)
	}
}
