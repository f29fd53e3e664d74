package feed_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"codeberg.org/ox/ox"
	"codeberg.org/ox/ox/feed"
	"codeberg.org/ox/ox/trust"
	"mellium.im/xmpp/jid"
)

func TestLines(t *testing.T) {
	at := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	alice, bob := jid.MustParse("alice@localhost/phone"), jid.MustParse("bob@localhost")
	room := jid.MustParse("room@conference.localhost")
	for _, c := range []struct {
		name string
		line feed.Line
		want []string
		not  []string
	}{
		{"message", feed.FromMessage(&ox.Message{From: alice, To: bob, ID: "m1", StanzaID: "s1", Origin: ox.OriginArchive, Delivered: at, Time: at, SignedAt: at, Body: "hi <b>", Trust: trust.Verified}),
			[]string{`"type":"message"`, `"id":"m1"`, `"stanza_id":"s1"`, `"origin":"archive"`, `"body":"hi <b>"`, `"verified":true`, `"verdict":"ok"`, `"signed":"2026-12-03T10:00:00Z"`}, []string{`"reason"`}},
		{"rejected", feed.FromMessage(&ox.Message{From: alice, To: bob, Delivered: at, Body: "secret", Err: errors.New("tampered")}),
			[]string{`"type":"rejected"`, `"verdict":"rejected"`, `"reason":"tampered"`}, []string{`secret`, `"verified"`}},
		{"pending", feed.FromMessage(&ox.Message{From: alice, To: bob, Delivered: at, Pending: true, Err: errors.New("no key yet")}),
			[]string{`"type":"pending"`, `"reason":"no key yet"`}, nil},
		{"room", feed.FromMessage(&ox.Message{From: alice, To: room, Room: room, Nick: "al", Delivered: at, Body: "x"}),
			[]string{`"room":"room@conference.localhost"`, `"nick":"al"`}, nil},
		{"key event", feed.FromKeyChange(ox.KeyChange{JID: bob, Fingerprint: "AB", What: "revoked", Reason: "compromised"}, at),
			[]string{`"type":"event"`, `"event":"key-revoked"`, `"reason":"compromised"`, `"at":"2026-12-03T10:00:00Z"`}, []string{`"trust"`}},
	} {
		var buf bytes.Buffer
		if err := feed.Write(&buf, c.line); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		if !json.Valid(buf.Bytes()) || strings.Count(out, "\n") != 1 {
			t.Errorf("%s: not one JSON line: %q", c.name, out)
		}
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: %s lacks %s", c.name, out, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(out, n) {
				t.Errorf("%s: %s has %s", c.name, out, n)
			}
		}
	}
}
