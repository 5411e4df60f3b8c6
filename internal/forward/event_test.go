package forward

import (
	"bytes"
	"testing"
	"time"
)

func TestPrinter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := NewPrinter(&buf, []string{"backstage", "demo"})
	p(Event{Forward: "backstage", URL: "http://127.0.0.1:7010", State: StateUp, Pod: "bs-1", Via: "websocket"})
	p(Event{Forward: "demo", URL: "http://127.0.0.1:18080", State: StateDown, Reason: "pod replaced (p-1 → p-2), reconnecting"})
	p(Event{Forward: "backstage", URL: "http://127.0.0.1:7010", State: StateUp, Pod: "bs-2", Via: "spdy", Downtime: 412345 * time.Microsecond})
	p(Event{Forward: "demo", URL: "http://127.0.0.1:18080", State: StateWaiting})
	want := "" +
		"backstage  http://127.0.0.1:7010     up (pod bs-1, websocket)\n" +
		"demo       http://127.0.0.1:18080    down: pod replaced (p-1 → p-2), reconnecting\n" +
		"backstage  http://127.0.0.1:7010     up (back after 412ms, pod bs-2, spdy)\n" +
		"demo       http://127.0.0.1:18080    waiting\n"
	if buf.String() != want {
		t.Errorf("printed:\n%s\nwant:\n%s", buf.String(), want)
	}
}
