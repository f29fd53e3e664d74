package store

import (
	"context"
	"testing"
	"time"
)

func TestRotations(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	if err := s.AddRotation(ctx, Rotation{Old: "AA", New: "BB", Started: t0, Until: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRotation(ctx, Rotation{Old: "BB", New: "CC", Started: t0.Add(time.Minute), Until: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRotation(ctx, "AA", t0.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Rotations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Old != "AA" || rs[0].New != "BB" || !rs[0].Finished.Equal(t0.Add(90*time.Minute)) ||
		rs[1].Old != "BB" || !rs[1].Finished.IsZero() || !rs[1].Until.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("rotations %+v", rs)
	}
}
