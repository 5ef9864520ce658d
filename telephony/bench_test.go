package telephony

import (
	"testing"
	"time"
)

const benchFrame = `{"type":"StasisStart","timestamp":"2026-11-22T13:03:41.049+0000","args":["inbound","5551000"],"channel":{"id":"1795352621.276","name":"Local/5551000@from-external-00000083;2","state":"Ring","protocol_id":"","caller":{"name":"Alice","number":"15550001"},"connected":{"name":"Alice","number":"15550001"},"accountcode":"","dialplan":{"context":"from-external","exten":"5551000","priority":2,"app_name":"Stasis","app_data":"cti,inbound,5551000"},"creationtime":"2026-11-22T13:03:41.048+0000","language":"en"},"asterisk_id":"52:54:00:12:34:56","application":"cti"}`

// BenchmarkDecodeEvent measures decoding one typical ARI event frame.
func BenchmarkDecodeEvent(b *testing.B) {
	data := []byte(benchFrame)
	now := time.Unix(0, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, _, err := decodeEvent(data, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEventQueue measures one push and pop through the reader→consumer queue.
func BenchmarkEventQueue(b *testing.B) {
	q := newEventQueue(1 << 20)
	ev := Event{Kind: KindARI, Type: "StasisStart"}
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		q.push(ev)
		if _, err := q.pop(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
