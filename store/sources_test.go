package store

import (
	"context"
	"testing"
	"time"
)

func TestKeySources(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	for _, k := range []KeySource{
		{JID: "bob@example.org", Fingerprint: "BB", Source: "wkd", Address: "bob@example.org", Fetched: t0},
		{JID: "amy@example.org", Fingerprint: "AA", Source: "wkd", Address: "amy@mail.example", Fetched: t0},
		{JID: "bob@example.org", Fingerprint: "BB", Source: "wkd", Address: "bob@example.org", Fetched: t0.Add(time.Hour)},
	} {
		if err := s.SetKeySource(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.KeySources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].JID != "amy@example.org" || got[0].Address != "amy@mail.example" || !got[1].Fetched.Equal(t0.Add(time.Hour)) {
		t.Errorf("sources %+v", got)
	}
	if err := s.SetAnnouncements(ctx, "carol@localhost", "i1", []Announcement{{Fingerprint: "CC"}}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetAnnouncements(ctx, "bob@localhost", "i2", []Announcement{{Fingerprint: "BB"}, {Fingerprint: "B2"}}, t0); err != nil {
		t.Fatal(err)
	}
	js, err := s.AnnouncingJIDs(ctx)
	if err != nil || len(js) != 2 || js[0] != "bob@localhost" || js[1] != "carol@localhost" {
		t.Errorf("announcing %v %v", js, err)
	}
}
