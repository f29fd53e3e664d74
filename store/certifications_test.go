package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestCertifications(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	at := time.Unix(1_800_000_000, 0).UTC()
	c := Certification{From: "alice@example.org", Certifier: "AAAA", Target: "BBBB", Key: []byte{0x99, 1, 2}, Received: at}
	id, added, err := s.AddCertification(ctx, c)
	if err != nil || !added || id == 0 {
		t.Fatalf("add: %d %v %v", id, added, err)
	}
	// The same offer again (from the offline store and the archive) is kept once.
	id2, added, err := s.AddCertification(ctx, c)
	if err != nil || added || id2 != id {
		t.Fatalf("add again: %d %v %v", id2, added, err)
	}
	other := c
	other.Key = []byte{0x99, 1, 3}
	if id3, added, err := s.AddCertification(ctx, other); err != nil || !added || id3 == id {
		t.Fatalf("another offer: %d %v %v", id3, added, err)
	}
	got, err := s.CertificationByID(ctx, id)
	if err != nil || got.State != CertificationPending || got.From != c.From || !got.Received.Equal(at) || string(got.Key) != string(c.Key) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if err := s.SetCertificationState(ctx, id, CertificationAccepted, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	all, err := s.Certifications(ctx)
	if err != nil || len(all) != 2 || all[0].State != CertificationAccepted || !all[0].Decided.Equal(at.Add(time.Hour)) || all[1].State != CertificationPending {
		t.Errorf("list: %+v %v", all, err)
	}
	if err := s.SetCertificationState(ctx, 999, CertificationDeclined, at); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if err := s.SetCertificationState(ctx, id, "maybe", at); err == nil {
		t.Error("unknown state accepted")
	}
	if _, err := s.CertificationByID(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}

	// Key IDs of stored keys.
	if err := s.PutKey(ctx, &Key{Fingerprint: "F1", Public: []byte{1}, Info: []byte("{}"), Created: at, KeyIDs: []uint64{1 << 63, 7}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ids  []uint64
		want bool
	}{{nil, false}, {[]uint64{8}, false}, {[]uint64{8, 1 << 63}, true}, {append(make([]uint64, 700), 7), true}} {
		if got, err := s.AnyKeyID(ctx, tc.ids); err != nil || got != tc.want {
			t.Errorf("AnyKeyID(%d ids) = %v %v, want %v", len(tc.ids), got, err, tc.want)
		}
	}
}
